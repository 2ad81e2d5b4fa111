// Package store defines what the ledger needs of a storage backend: keys,
// clients, revocations and the audit chains with their Merkle trees and
// checkpoints. Every backend passes the conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
)

// Store is a storage backend: every part the ledger uses. Methods that
// change state and take (chain, recs) append recs as the next records of
// chain in the same transaction as the change, so a change and its audit
// records are durable together or not at all. A consumer that needs less
// names the parts it uses.
type Store interface {
	Records
	Trees
	KeyStore
	RevocationStore
	ClientStore
	MetaStore
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	Close() error
}

// Records are the audit chains' records.
type Records interface {
	// Append stores recs as the next records of chain in one transaction,
	// assigning Seq, Chain and LeafHash; they are durable when it returns
	// nil, and none is visible when it fails.
	Append(ctx context.Context, chain string, recs []*audit.Record) error
	// Query returns the records matching f, oldest first (newest first with
	// f.Newest); pruned records are left out.
	Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error)
	// Counts answers an aggregate query from counts the store keeps in the
	// transaction of every append (kept behind the commit, see store/internal/tables), never by reading
	// records.
	Counts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error)
	// RecordBody is the canonical encoding of record seq of chain
	// (ErrNotFound when there is none).
	RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error)
	// ScanChain calls fn for every record of chain in seq order (body is
	// nil for a pruned record).
	ScanChain(ctx context.Context, chain string, fn func(seq int64, body, leaf []byte) error) error
	// ScanChainTimes is ScanChain with each record's time (Unix ns).
	ScanChainTimes(ctx context.Context, chain string, fn func(seq, time int64, body, leaf []byte) error) error
	// Chains lists the chains that have records.
	Chains(ctx context.Context) ([]string, error)
	// TreeSize is the number of records in chain.
	TreeSize(ctx context.Context, chain string) (int64, error)
	// Prune removes the bodies of chain's records with seq <= upTo and time
	// before cut, keeping their leaf hashes; it returns how many.
	Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error)
}

// Trees are the chains' Merkle trees and signed checkpoints.
type Trees interface {
	// BuildTree extends chain's stored tree hashes over the records
	// appended since the last build and returns the tree size; a missing
	// record stops it with an error.
	BuildTree(ctx context.Context, chain string) (int64, error)
	// TreeBuilt is how many records of chain the stored tree covers.
	TreeBuilt(ctx context.Context, chain string) (int64, error)
	// HashReader reads chain's stored tree hashes (tlog layout).
	HashReader(ctx context.Context, chain string) tlog.HashReader
	// AddCheckpoint builds chain's tree to its newest record and stores the
	// note sign returns for that size and root, in one transaction.
	AddCheckpoint(ctx context.Context, chain string, at time.Time, sign func(size int64, root tlog.Hash) ([]byte, error)) (*Checkpoint, error)
	// Checkpoints returns chain's checkpoints by size.
	Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error)
}

// KeyStore holds the managed signing keys.
type KeyStore interface {
	// Keys returns every managed key.
	Keys(ctx context.Context) ([]keys.Stored, error)
	// AddKey stores k; demote makes the active key verify-only; ifEmpty
	// adds it only when there is no key yet (ErrExists otherwise). A
	// pre-published key (Activates set) is refused with ErrExists while
	// another one is pending, so nodes racing to schedule the next key
	// agree on one.
	AddKey(ctx context.Context, k keys.Stored, demote, ifEmpty bool, chain string, recs []*audit.Record) error
	// SetKeyState changes the state of key kid (ErrNotFound if none).
	SetKeyState(ctx context.Context, kid string, state keys.State, at time.Time, chain string, recs []*audit.Record) error
	// PromoteKey makes the pre-published key kid the active one.
	PromoteKey(ctx context.Context, kid string, at time.Time, chain string, recs []*audit.Record) error
}

// RevocationStore holds the revoked tokens.
type RevocationStore interface {
	// Revoke records the revocation of (iss, jti) and reports whether it was
	// already revoked (then nothing is written).
	Revoke(ctx context.Context, iss, jti string, exp, at time.Time, chain string, recs []*audit.Record) (already bool, err error)
	// RevocationsSince returns revocations made after since (Unix ns) whose
	// tokens have not expired before notExpiredAt.
	RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]Revocation, error)
}

// ClientStore holds the API clients.
type ClientStore interface {
	// Clients returns every API client.
	Clients(ctx context.Context) ([]ClientRow, error)
	// AddClient stores c (ErrExists for a taken id). AddClient,
	// DeleteClient and SetClientSecret also give the setting
	// [MetaClientsChanged] a new value in the same transaction (and a
	// [Watcher] notifies [TopicClients]), so that every process sharing
	// the store can tell that its cached clients are stale.
	AddClient(ctx context.Context, c ClientRow, chain string, recs []*audit.Record) error
	// DeleteClient removes client id (ErrNotFound if none).
	DeleteClient(ctx context.Context, id string, chain string, recs []*audit.Record) error
	// SetClientSecret replaces the secret hash of client id (ErrNotFound
	// if none).
	SetClientSecret(ctx context.Context, id string, hash []byte, chain string, recs []*audit.Record) error
}

// MetaStore holds the ledger-wide settings.
type MetaStore interface {
	// MetaAll returns every ledger-wide setting.
	MetaAll(ctx context.Context) (map[string][]byte, error)
	// Meta reads a ledger-wide setting.
	Meta(ctx context.Context, name string) (value []byte, ok bool, err error)
	// SetMetaOnce stores value under name unless one is stored, and returns
	// the stored one.
	SetMetaOnce(ctx context.Context, name string, value []byte) ([]byte, error)
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// ClientRow is an API client as stored.
type ClientRow struct {
	ID         string
	Name       string
	SecretHash []byte
	Scopes     string // space-separated
	Policy     []byte // JSON
	Created    time.Time
}

// Revocation is one revoked token.
type Revocation struct {
	Iss, JTI  string
	Exp       time.Time // zero when unknown
	RevokedAt int64     // Unix ns
}

// Checkpoint is a stored signed checkpoint.
type Checkpoint struct {
	Chain string
	Size  int64
	Root  tlog.Hash
	Note  []byte
	Time  time.Time
}

// RawRecord is an audit record as stored: its canonical encoding (empty
// once pruned) and leaf hash.
type RawRecord struct {
	Seq, Time  int64 // Time in Unix ns
	Body, Leaf []byte
}

// Importer is a store that can take the whole content of another one
// verbatim (jwtledger store migrate).
type Importer interface {
	// Empty reports whether the store holds no keys, clients, records or
	// settings yet.
	Empty(ctx context.Context) (bool, error)
	ImportMeta(ctx context.Context, meta map[string][]byte) error
	ImportKeys(ctx context.Context, ks []keys.Stored) error
	ImportClients(ctx context.Context, cs []ClientRow) error
	ImportRevocations(ctx context.Context, rs []Revocation) error
	// ImportRecords appends recs, in seq order, right after chain's head.
	ImportRecords(ctx context.Context, chain string, recs []RawRecord) error
	ImportCheckpoints(ctx context.Context, cps []Checkpoint) error
}

// Maintainer is a store with periodic upkeep (PostgreSQL: making the next
// months' audit partitions); the ledger calls Maintain hourly.
type Maintainer interface {
	Maintain(ctx context.Context, now time.Time) error
}

// Watcher is a store shared with other nodes that tells when they changed
// something a node caches: topic is TopicRevocations, TopicKeys or
// TopicClients. After losing its connection it reports every topic once
// reconnected, since changes may have been missed meanwhile. Watch returns
// when ctx ends.
type Watcher interface {
	Watch(ctx context.Context, changed func(topic string))
}

// Topics of Watcher.
const (
	TopicRevocations = "jwtledger_revocations"
	TopicKeys        = "jwtledger_keys"
	TopicClients     = "jwtledger_clients"
)

// ErrIdentity means the store is no longer the one the ledger opened: the
// database file was deleted, replaced or truncated under the running
// process, or the database now holds another ledger. Nothing written from
// then on is durable where the next start would look, so every write fails
// with it until the process is restarted (errors.Is holds on what a
// ledger's operations return then).
var ErrIdentity = errors.New("the store is no longer the one the ledger opened")

// IdentityError says what happened to the store; it matches [ErrIdentity].
type IdentityError struct {
	What string // what changed, for the operator: "the database file /d/jwtledger.db was deleted"
}

func (e *IdentityError) Error() string { return e.What }

// Is makes errors.Is(err, ErrIdentity) hold.
func (e *IdentityError) Is(target error) bool { return target == ErrIdentity }

// ErrLowSpace means the file system of the store has less free space than
// the configured reserve: writes will soon fail, so the node is not ready.
var ErrLowSpace = errors.New("the store's file system is almost full")

// Prober is a store whose writability and identity can be checked cheaply
// (readiness). Probe makes one small durable write, then reads back, from
// the store as it is now and not from a cache, the ledger id (meta
// "ledger_id") and the head of chain. It fails with an [*IdentityError]
// when the store is not the one that was opened, with [ErrLowSpace] when
// its file system is almost full.
//
// CheckLive is the part of the probe cheap enough for every readiness
// call: no write (SQLite: the files' identity and free space; PostgreSQL:
// a ping).
type Prober interface {
	Probe(ctx context.Context, chain string) (ledgerID string, head int64, err error)
	CheckLive(ctx context.Context) error
}

// Rescuer is a store that can save what it still holds after its identity
// was lost (a SQLite file deleted or replaced while open): Rescue appends,
// bypassing the identity check, an audit.undelivered record to chain for
// each of the undelivered batches it holds, and writes a consistent copy
// of the database to dst.
type Rescuer interface {
	Rescue(ctx context.Context, dst, chain string, undelivered []audit.Range) error
}

// ErrDamaged means the store's file is damaged (SQLite: "database disk
// image is malformed"). errors.Is holds on what Open returns for a
// damaged store when Config.CheckIntegrity is set, and on the damage of
// kind "damaged" that an audit verification reports.
var ErrDamaged = errors.New("the database is damaged")

// DamageError is what an integrity check found; it matches [ErrDamaged].
type DamageError struct{ Detail string }

func (e *DamageError) Error() string { return "the database is damaged: " + e.Detail }

// Is makes errors.Is(err, ErrDamaged) hold.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// Damageable is a store that can tell damage from other failures and read
// around it (the embedded store).
type Damageable interface {
	// IsDamage reports whether err says the file is damaged.
	IsDamage(err error) bool
	// CheckIntegrity checks the whole file (a [*DamageError] if damaged).
	CheckIntegrity(ctx context.Context) error
	// ScanChainFrom is ScanChain from seq from on.
	ScanChainFrom(ctx context.Context, chain string, from int64, fn func(seq int64, body, leaf []byte) error) error
}

// RangeScanner is a store that reads a chain's records by seq range, and
// several ranges at once (from several goroutines): a verification reads
// and checks the ranges on several cores.
type RangeScanner interface {
	// ScanChainRange is ScanChain for the records with from <= seq < to.
	ScanChainRange(ctx context.Context, chain string, from, to int64, fn func(seq int64, body, leaf []byte) error) error
}

// MetaClientsChanged is the setting that every change to the clients sets
// to a new random value (see [Store].AddClient): a process that caches
// clients reads it to learn whether another process changed them.
const MetaClientsChanged = "clients_changed"
