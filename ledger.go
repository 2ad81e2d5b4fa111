// Package jwtledger issues and verifies JWTs and keeps a durable,
// fail-closed audit record of every issuance, verification, revocation and
// key change.
//
// Open a [Ledger] on a data directory (SQLite inside it by default), then
// call [Ledger.Issue] and [Ledger.Verify]:
//
//	import _ "github.com/jwtledger/jwtledger/store/sqlite" // the embedded store
//
//	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
//	...
//	defer l.Close()
//	issued, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice"})
//	tok, err := l.Verify(ctx, issued.Token)
//	switch {
//	case err == nil: // valid
//	case errors.Is(err, token.ErrExpired): ...
//	case errors.Is(err, jwtledger.ErrAudit): // no verdict: the record could not be written
//	}
//
// # Stores
//
// The program chooses the store backends it links, as with database/sql
// drivers: importing [github.com/jwtledger/jwtledger/store/sqlite] (one
// file, the default "sqlite:" spec) or
// [github.com/jwtledger/jwtledger/store/postgres] (several nodes on one
// database, Config.Store "postgres://...") registers it; this package
// imports neither driver. A backend's own options are values given
// through Config.OpenStore:
//
//	cfg := jwtledger.Config{
//		Store:     "sqlite:/var/lib/jwtledger/ledger.db",
//		OpenStore: sqlite.Opener(sqlite.Options{MinFree: 64 << 20}),
//	}
//
// # Audit
//
// No token is returned by Issue, and no verdict by Verify, before its audit
// record is durable in the store. Concurrent calls share one transaction and
// one fsync (group commit). Records never contain a token, secret or private
// key; token_sha256 is the token's fingerprint. Records are also copied to a
// text log (jwt_logs.log in the data directory) and, if configured, JSON lines.
// [Ledger.Trail] reads the trail: queries, checkpoints, inclusion proofs,
// exports, verification, retention and witnessing (package trail).
//
// # Keys
//
// On first use an ES256 key is generated and stored, sealed with AES-256-GCM
// under a master key (Config.MasterKey, else a master.key file created in the
// data directory; the CLI reads JWTLEDGER_MASTER_KEY). [Ledger.RotateKey] makes a
// new active key and keeps the previous ones verify-only. External keys
// (PEM, JWK, JWKS, raw HMAC secrets) are read with [keys.Parse] and
// [keys.NewHMAC] (package [github.com/jwtledger/jwtledger/keys]) and used
// through [IssueRequest].Key and [WithKeys].
//
// # Verification
//
// Every key is bound to one algorithm (or, for an external RSA or HMAC key
// given without one, to its family); "none" is never accepted. The signature
// is checked before any claim. exp is required unless
// [WithExpirationRequired](false); the default leeway is 30s. The token,
// its outcome and the sentinels for errors.Is are the model of the public
// package [github.com/jwtledger/jwtledger/token].
package jwtledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unsafe"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/denial"
	"github.com/jwtledger/jwtledger/internal/health"
	"github.com/jwtledger/jwtledger/internal/keyring"
	ikeys "github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/node"
	"github.com/jwtledger/jwtledger/internal/revocation"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/store"
)

// Config configures a [Ledger]. The zero value works: SQLite in the default
// data directory, issuer "jwtledger", 1h tokens, an ES256 key.
type Config struct {
	// DataDir holds the database, master key, node id and text log.
	// Default: $XDG_DATA_HOME/jwtledger, else ~/.local/share/jwtledger.
	DataDir string
	// Store names the store: "sqlite:PATH" or "postgres://...". Default:
	// sqlite:DataDir/jwtledger.db. It is opened by OpenStore, else by the
	// backend package the program imports for its scheme (store/sqlite,
	// store/postgres; the jwtledger command imports both).
	Store string
	// OpenStore, if set, opens Store in place of the registered backend,
	// with the backend's own options:
	// sqlite.Opener(sqlite.Options{MinFree: 1 << 30}).
	OpenStore store.Opener
	// Issuer is the iss of issued tokens. Default "jwtledger".
	Issuer string
	// TTL is the lifetime of issued tokens when a request names none. Default 1h.
	TTL time.Duration
	// MaxTTL bounds requested lifetimes; zero means no bound.
	MaxTTL time.Duration
	// KeyAlg is the algorithm of the key generated on first use and of
	// rotations that name none. Default ES256.
	KeyAlg keys.Alg
	// MasterKey (32 bytes) seals private keys at rest. Default:
	// DataDir/master.key, created on first use with mode 0600. The library
	// reads no environment variable; the CLI fills this from
	// JWTLEDGER_MASTER_KEY (base64 or hex). Nodes sharing a PostgreSQL
	// store must all be given the same key.
	MasterKey []byte
	// NodeID names this node's audit chain. Default: read from
	// DataDir/node-id, created on first use from the host name.
	NodeID string
	// TextLog is the path of the classic text log. Default
	// DataDir/jwt_logs.log (for a SQLite store outside DataDir, next to
	// its database: sqlite:/srv/x.db logs to /srv/x.jwt_logs.log); "off"
	// disables it.
	TextLog string
	// JSONLog, if set, receives every record as one JSON line.
	JSONLog io.Writer
	// CheckpointEvery makes a checkpoint after this many records (default
	// 1000), but not sooner than CheckpointMinInterval after the previous
	// one (default 1s); CheckpointInterval at least this often while records
	// arrive (default 10s). CheckpointFile receives every checkpoint note
	// (default DataDir/checkpoints.log, or next to a SQLite database
	// outside DataDir: /srv/x.checkpoints.log for sqlite:/srv/x.db).
	CheckpointEvery       int
	CheckpointMinInterval time.Duration
	CheckpointInterval    time.Duration
	CheckpointFile        string
	// Witnesses, if any, are sent every checkpoint (C2SP tlog-witness,
	// each with its URL) and their cosignatures are stored with it; a
	// checkpoint is witnessed once WitnessQuorum of them cosigned it (0:
	// all). Witnessing never holds up issuance: see Witnessing of [Ledger.Trail].
	Witnesses     []auditor.Witness
	WitnessQuorum int
	// RotateEvery, if positive, rotates the signing key when the active key
	// is this old; the next key is published in the JWKS PrePublish
	// (default 10m) before it signs. A long-running ledger runs the schedule
	// by itself, safe from several processes.
	RotateEvery time.Duration
	PrePublish  time.Duration
	// Retain, if positive, makes a long-running ledger prune record bodies
	// older than this once an hour (see Prune of [Ledger.Trail]); zero keeps them
	// forever.
	Retain time.Duration
	// CheckIntegrity checks the embedded store's whole file at Open
	// (SQLite quick_check; serve does): a damaged database is refused with
	// [store.ErrDamaged] unless AllowDamaged, which opens it read-only for
	// inspection (audit queries and verification; nothing is issued,
	// verified or recorded).
	CheckIntegrity bool
	AllowDamaged   bool
	// RefuseHMACSigning refuses an HMAC key as the active signing key
	// (serve does, unless --allow-hmac-signing): HMAC keys are never
	// published, so no JWKS consumer can verify what they sign.
	RefuseHMACSigning bool
	// DenialLimit bounds the auth.denied records refused callers cause.
	DenialLimit DenialLimit
	// MinFreeSpace is the free space, in bytes, that the embedded store's
	// file system must keep for [Ledger.Ready] to report ready. Default
	// 1 MiB; negative disables the check.
	MinFreeSpace int64
	// AuditIndex keeps an index of every audit query filter (event,
	// outcome, sub, jti, actor, kid, request id) behind the commits, on
	// both backends: a follower indexes the new records every 100 ms and
	// catches up at Open from where the last process with the index on
	// stopped; queries answer from it (milliseconds instead of seconds at
	// a million records) and scan only the records past it. Off by
	// default: on SQLite the follower's transactions take the write lock
	// the audit append needs (appends measured at 0.31-0.63x, audited
	// issuance at 64 callers 0.59x; docs/operations.md). Off, no index is
	// written or read and queries scan the records.
	AuditIndex bool
	// Logger receives operational logs (never tokens or secrets). nil discards.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Ledger issues and verifies tokens and records every event. It is safe for
// concurrent use.
type Ledger struct {
	cfg    Config
	node   *node.Node // the store, writer, monitor and background work
	db     store.Store
	caps   store.Capabilities // what db can do beyond store.Store
	w      *audit.Writer
	master []byte
	log    *slog.Logger

	readOnly error           // set when a damaged store was opened for inspection
	mon      *health.Monitor // readiness and the loss of the store
	denied   *denial.Limiter

	auditSigner note.Signer
	auditVKey   string
	cps         *auditlog.Checkpointer
	witnessing  *auditlog.Witnessing

	clients clientauth.Cache[*Client] // by secret hash
	revoked *revocation.View          // of other nodes' revocations (and client changes)
	ring    *keyring.Ring             // the managed keys
}

// storeChanged is told by a shared store that another node changed
// revocations, keys or clients: the next verification, issuance or
// authentication re-reads them.
func (l *Ledger) storeChanged(topic string) {
	switch topic {
	case store.TopicRevocations:
		l.revoked.Changed()
	case store.TopicClients:
		l.clients.Invalidate()
	case store.TopicKeys:
		l.ring.Stale()
	}
}

// Errors that are not verification outcomes.
var (
	// ErrAudit means the audit record could not be made durable, so the
	// operation was refused: no token, no verdict.
	ErrAudit = errors.New("audit record not written")
	// ErrNoActiveKey means the ledger has no key to sign with.
	ErrNoActiveKey = errors.New("no active signing key")
	// ErrInvalidRequest marks a request the ledger refuses to act on.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNotFound means the request names a client or key that does not
	// exist.
	ErrNotFound = errors.New("not found")
)

// Open opens the ledger, creating the data directory, database, master key
// and first signing key as needed.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	if cfg.DataDir == "" {
		d, err := defaults.DataDir()
		if err != nil {
			return nil, err
		}
		cfg.DataDir = d
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "jwtledger"
	}
	if cfg.TTL == 0 {
		cfg.TTL = defaults.TTL
	}
	if cfg.KeyAlg == "" {
		cfg.KeyAlg = ikeys.ES256
	}
	if cfg.PrePublish <= 0 {
		cfg.PrePublish = defaults.PrePublish
	}
	switch {
	case cfg.TTL < 0:
		return nil, fmt.Errorf("config: negative TTL %s", cfg.TTL)
	case !cfg.KeyAlg.Valid():
		return nil, fmt.Errorf("config: unsupported key algorithm %q", cfg.KeyAlg)
	case cfg.RotateEvery > 0 && cfg.RotateEvery <= cfg.PrePublish:
		return nil, fmt.Errorf("config: rotation period %s must be longer than the pre-publication window %s", cfg.RotateEvery, cfg.PrePublish)
	}
	l := &Ledger{}
	n, err := node.Open(ctx, node.Config{DataDir: cfg.DataDir, Store: cfg.Store, OpenStore: cfg.OpenStore,
		MasterKey: cfg.MasterKey, NodeID: cfg.NodeID, TextLog: cfg.TextLog, JSONLog: cfg.JSONLog,
		CheckpointEvery: cfg.CheckpointEvery, CheckpointMinInterval: cfg.CheckpointMinInterval,
		CheckpointInterval: cfg.CheckpointInterval, CheckpointFile: cfg.CheckpointFile,
		CheckIntegrity: cfg.CheckIntegrity, AllowDamaged: cfg.AllowDamaged, MinFreeSpace: cfg.MinFreeSpace,
		AuditIndex: cfg.AuditIndex, Denial: denial.Limits(cfg.DenialLimit), RotateEvery: cfg.RotateEvery, PrePublish: cfg.PrePublish,
		MaxTTL: cfg.MaxTTL, Now: cfg.Now, Log: cfg.Logger, ErrAudit: ErrAudit,
		ErrInvalid: func(detail string) error { return &RequestError{Detail: detail} }}, l.hooks())
	if err != nil {
		return nil, err
	}
	nc := n.Config
	cfg.NodeID, cfg.TextLog, cfg.CheckpointFile, cfg.DenialLimit, cfg.Now = nc.NodeID, nc.TextLog, nc.CheckpointFile, DenialLimit(nc.Denial), nc.Now
	cfg.CheckpointEvery, cfg.CheckpointMinInterval, cfg.CheckpointInterval = nc.CheckpointEvery, nc.CheckpointMinInterval, nc.CheckpointInterval
	*l = Ledger{cfg: cfg, node: n, db: n.DB, caps: n.Caps, w: n.W, master: n.Master, log: nc.Log,
		readOnly: n.Damaged, mon: n.Mon, denied: n.Denied, auditSigner: n.AuditKey.Signer, auditVKey: n.AuditKey.VerifierKey, cps: n.Cps}
	l.ring = &keyring.Ring{Reload: func(ctx context.Context) error { return l.loadKeys(ctx, false) }, Log: l.log}
	l.revoked = &revocation.View{Source: l.db, Now: cfg.Now, Before: l.checkClientsMark}
	if err := l.start(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// start reads the keys and revocations and starts the background work.
func (l *Ledger) start(ctx context.Context) error {
	if err := l.loadKeys(ctx, l.readOnly == nil); err != nil {
		return err
	}
	if err := l.checkSigner(l.ring.Active()); err != nil {
		return err
	}
	if err := l.revoked.Load(ctx); err != nil {
		return err
	}
	l.node.Watch(l.storeChanged)
	if l.readOnly != nil {
		return nil // nothing runs that writes
	}
	if err := l.startWitnessing(ctx); err != nil {
		return err
	}
	l.node.Start(l.runCheckpoints)
	return nil
}

// hooks are the ledger's operations its node calls once it runs.
func (l *Ledger) hooks() node.Hooks {
	m := Meta{Actor: "jwtledger"}
	return node.Hooks{
		Checkpoint: l.checkpoint,
		ReloadKeys: func(ctx context.Context) error { return l.loadKeys(ctx, false) },
		AddKey: func(ctx context.Context, k *keys.Key, activates time.Time, reason string) error {
			_, err := l.addKeyAt(ctx, k, keys.VerifyOnly, activates, audit.KeyCreate, reason, m)
			return err
		},
		RetireKey: func(ctx context.Context, kid string) error {
			if err := l.RetireKey(ctx, kid, m); !errors.Is(err, ErrInvalidRequest) {
				return err
			}
			return nil
		},
		Export:      l.exportMatching,
		TokenScopes: l.tokenScopes,
	}
}

// Close makes a last checkpoint if one is due, flushes pending audit
// records and closes the store.
func (l *Ledger) Close() error {
	l.node.Stop()
	l.stopWitnessing()
	return l.node.Close()
}

// Ready reports whether the ledger can serve: its store is the one it
// opened (same file, same ledger id, not gone back in time), a small write
// to it is durable, its file system has room (Config.MinFreeSpace), the
// newest audit commit and the newest checkpoint attempt succeeded. The
// store is probed at most once per second; callers in between get
// the cached result (plus any failure since), so a load balancer polling
// readiness costs one small write a second. A store that comes back is
// ready again within a second of the next call, with no other traffic.
func (l *Ledger) Ready(ctx context.Context) error { return l.node.Ready(ctx) }

// Issuer is the iss the ledger puts in its tokens.
func (l *Ledger) Issuer() string { return l.cfg.Issuer }

// NodeID is the name of this node's audit chain.
func (l *Ledger) NodeID() string { return l.cfg.NodeID }

// DataDir is the ledger's data directory.
func (l *Ledger) DataDir() string { return l.cfg.DataDir }

func fingerprint(raw string) string {
	// Hashed in place (sha256 only reads it), not copied into a []byte;
	// the hex string is the one allocation.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
