package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// The console reads and changes the ledger only through the interfaces
// below: each is what one part of the console needs, and [FromLedger]
// implements all of them over a *jwtledger.Ledger with the same calls the
// HTTP API makes. Every method that changes state takes the [Meta] of the
// signed-in client and is audited by the ledger like the API's call.

// Authenticator checks client credentials.
type Authenticator interface {
	// Authenticate returns the client whose secret this is (id, when not
	// empty, must be its id), or an error wrapping ErrUnauthenticated.
	Authenticate(ctx context.Context, id, secret string) (*Client, error)
	// Client returns client id as it is now (ErrNotFound once deleted).
	Client(ctx context.Context, id string) (*Client, error)
}

// Recorder writes the console's own audit records, durably before it
// returns (an error wrapping ErrUnavailable when it cannot).
type Recorder interface {
	// RecordDenied records a refused request (auth.denied).
	RecordDenied(ctx context.Context, reason string, m Meta) error
	// RecordSession records a sign-in (console.login) or sign-out
	// (console.logout).
	RecordSession(ctx context.Context, ev audit.Event, reason string, m Meta) error
}

// RecordReader queries the audit records.
type RecordReader interface {
	// Records returns the records f selects, oldest first (with f.Newest,
	// the newest f.Limit, still oldest first); ID is the paging cursor.
	Records(ctx context.Context, f audit.Filter) ([]*audit.Record, error)
	// Record returns record seq of chain (ErrNotFound when absent or pruned).
	Record(ctx context.Context, chain string, seq int64) (*audit.Record, error)
}

// Tail wakes the live tail.
type Tail interface {
	// Subscribe returns a channel that receives a value after records were
	// committed (coalesced; read them with Records after the newest seen)
	// and a function that ends the subscription. Sends never block the
	// writer.
	Subscribe() (wake <-chan struct{}, cancel func())
}

// Exporter writes an audit export.
type Exporter interface {
	// Export writes the audit export (format "jsonl" or "csv", the format
	// of `jwtledger audit export`) with the records f selects in full and
	// every other record by its leaf hash, so it verifies offline.
	Export(ctx context.Context, w io.Writer, format string, f audit.Filter) error
}

// Aggregator answers the overview's counting questions from maintained
// aggregates, never by reading the records of the window.
type Aggregator interface {
	Counts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error)
	// Chains lists the ledger's chains (one per node) with their sizes.
	Chains(ctx context.Context) ([]ChainStatus, error)
	// WriterStats are the audit writer's counters, the numbers /metrics shows.
	WriterStats() (st audit.Stats, queued int)
}

// Integrity is the tamper-evidence of the ledger.
type Integrity interface {
	// Checkpoints returns chain's signed checkpoints, oldest first.
	Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error)
	// VerifierKey is the note verifier key of the checkpoints.
	VerifierKey() string
	// VerifyAudit recomputes and checks every chain (`audit verify`),
	// calling progress now and then.
	VerifyAudit(ctx context.Context, progress func(done, total int64)) (*Report, error)
	// Prove returns the inclusion proof of record seq of chain against a
	// signed checkpoint.
	Prove(ctx context.Context, chain string, seq int64) (*Proof, error)
}

// TokenVerifier verifies a token as POST /v1/tokens/verify does: an
// audited verification. aud and iss may be empty.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, raw, aud, iss string, m Meta) (*Verdict, error)
}

// KeyAdmin lists and rotates the signing keys.
type KeyAdmin interface {
	Keys(ctx context.Context) ([]Key, error)
	// RotateKey makes a new active key (alg empty: the configured one).
	RotateKey(ctx context.Context, alg string, m Meta) (*Key, error)
}

// ClientAdmin manages the API clients.
type ClientAdmin interface {
	Clients(ctx context.Context) ([]Client, error)
	CreateClient(ctx context.Context, nc NewClient, m Meta) (*Credentials, error)
	DeleteClient(ctx context.Context, id string, m Meta) error
	RotateClientSecret(ctx context.Context, id string, m Meta) (*Credentials, error)
}

// Backend is everything the console uses.
type Backend interface {
	Authenticator
	Recorder
	RecordReader
	Tail
	Exporter
	Aggregator
	Integrity
	TokenVerifier
	KeyAdmin
	ClientAdmin
}

// Errors a [Backend] returns for the console to tell apart.
var (
	ErrUnauthenticated = errors.New("invalid client credentials")
	ErrNotFound        = errors.New("not found")
	// ErrUnavailable: the store or the audit trail cannot be written, so
	// nothing was done.
	ErrUnavailable = errors.New("the audit trail is unavailable")
)

// RequestError is a request the ledger refuses; Msg is for the user.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

// Scopes the console checks, as the HTTP API does.
const (
	ScopeAudit  = "audit:read"
	ScopeVerify = "tokens:verify"
	ScopeAdmin  = "admin"
)

// AllScopes are the scopes a client may be given.
var AllScopes = []string{"tokens:issue", "tokens:verify", "tokens:revoke", "audit:read", "admin"}

// Meta says who does something, for the audit record.
type Meta struct {
	Actor, Remote, RequestID string
}

// Client is an API client, without its secret.
type Client struct {
	ID      string
	Name    string
	Scopes  []string
	Policy  ClientPolicy
	Created time.Time
}

// Has reports whether c holds scope (admin holds every scope).
func (c *Client) Has(scope string) bool {
	return slices.Contains(c.Scopes, scope) || slices.Contains(c.Scopes, ScopeAdmin)
}

// ClientPolicy limits what a client may ask for; zero values allow anything.
type ClientPolicy struct {
	Audiences   []string
	MaxTTL      time.Duration
	Claims      []string
	TokenScopes []string
}

// NewClient is a client to create.
type NewClient struct {
	Name   string
	Scopes []string
	Policy ClientPolicy
}

// Credentials are a client id and its secret, shown once.
type Credentials struct{ ID, Secret string }

// Key is a managed signing key, without its material.
type Key struct {
	KID, Alg, State             string
	Created, Rotated, Activates time.Time
}

// ChainStatus is one chain of the ledger.
type ChainStatus struct {
	Chain   string
	Records int64
	Local   bool // this node's chain
}

// Checkpoint is a signed checkpoint of a chain.
type Checkpoint struct {
	Chain string
	Size  int64
	Root  []byte
	Note  string // the signed note
	Time  time.Time
}

// Proof is an inclusion proof in the form of `jwtledger audit prove`.
type Proof struct {
	Chain      string   `json:"chain"`
	Seq        int64    `json:"seq"`
	Record     string   `json:"record"`
	LeafIndex  int64    `json:"leaf_index"`
	TreeSize   int64    `json:"tree_size"`
	Hashes     [][]byte `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
}

// Report is the result of an audit verification.
type Report struct {
	OK      bool
	Records int64
	Chains  []ChainReport
	Damage  []Damage
}

// ChainReport summarizes one verified chain.
type ChainReport struct {
	Chain       string
	Records     int64
	Pruned      int64
	Checkpoints int
}

// Damage is one finding of a verification, at the first seq it affects.
type Damage struct {
	Kind   string
	Chain  string
	Seq    int64
	Detail string
}

// Verdict is the server's verdict on a token.
type Verdict struct {
	Valid   bool
	Outcome string
	Reason  string
	Header  json.RawMessage
	Claims  json.RawMessage // {} unless the signature matched
}
