package trail

import (
	"context"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
)

// Log is a ledger's audit trail (see [github.com/jwtledger/jwtledger.Ledger.Trail]);
// it is safe for concurrent use and lives as long as its ledger.
type Log auditlog.Trail

func (l *Log) t() *auditlog.Trail { return (*auditlog.Trail)(l) }

// Record is one audit record: its chain and sequence number, time, event,
// outcome and reason, who asked (Actor, Remote, RequestID), the token's
// claims (Sub, Aud, JTI, KID, Alg, Exp) and fingerprint (TokenSHA256),
// its leaf hash, and ID, the cursor of [Filter]. See
// [github.com/jwtledger/jwtledger/auditor.Record].
type Record = auditor.Record

// Event names what a record is about: "token.issue", "token.verify",
// "token.revoke", "key.create", "key.rotate", "key.retire",
// "client.create", "client.delete", "auth.denied", "auth.denied.suppressed",
// "audit.undelivered", "console.login", "console.logout".
type Event = auditor.Event

// Filter selects records; zero fields match everything. Since and Until
// bound the time (Since <= time < Until); Event, Outcome ("ok", "denied",
// "error", or for token.verify the verification outcome: "valid",
// "expired", ...), Sub, JTI, Actor (client id or local user), KID,
// RequestID and Chain (node id) must equal the record's. After and Before
// are cursors (a record's ID: only records stored after, before it), Limit
// bounds the answer (0: no bound) and Newest takes the newest Limit
// records, still returned oldest first.
type Filter = audit.Filter

// Stats counts what the audit writer did since the ledger opened:
// Batches committed, Records in them, failed commits (Failures), records
// marked undelivered, the total CommitTime, and histograms of batch sizes
// and commit times.
type Stats = audit.Stats

// Meta says who asks for an operation that is recorded (the same fields as
// [github.com/jwtledger/jwtledger.Meta], which converts to it).
type Meta struct {
	Actor     string // client id or local user
	Remote    string // remote address
	RequestID string
}

// Query returns the records matching f, oldest first. An event or outcome
// that no record can have is an error (the ledger's ErrInvalidRequest), not
// an empty answer.
func (l *Log) Query(ctx context.Context, f Filter) ([]*Record, error) { return l.t().Query(ctx, f) }

// Record returns record seq of chain (an ErrInvalidRequest error when
// there is none or its body was pruned).
func (l *Log) Record(ctx context.Context, chain string, seq int64) (*Record, error) {
	return l.t().Record(ctx, chain, seq)
}

// Stats returns the audit writer's counters and histograms, and the number
// of records waiting for the next commit.
func (l *Log) Stats() (Stats, int) { return l.t().Stats() }
