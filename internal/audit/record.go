// Package audit holds jwtledger's audit trail: the events and filters of
// the records (whose type and canonical encoding are the public auditor
// package's), the group-commit writer that makes them durable
// before any caller gets an answer, and the secondary sinks (text log, JSON
// lines).
package audit

import (
	"errors"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
)

// Event names what a record is about.
type Event = auditor.Event

// The audit events.
const (
	TokenIssue      Event = "token.issue"
	TokenVerify     Event = "token.verify"
	TokenRevoke     Event = "token.revoke"
	KeyCreate       Event = "key.create"
	KeyRotate       Event = "key.rotate"
	KeyRetire       Event = "key.retire"
	ClientCreate    Event = "client.create"
	ClientDelete    Event = "client.delete"
	AuthDenied      Event = "auth.denied"
	AuditCheckpoint Event = "audit.checkpoint"
	// AuditUndelivered marks records whose commit could not be confirmed
	// durable: their callers got an error, no token or verdict (see
	// [UndeliveredRecord]).
	AuditUndelivered Event = "audit.undelivered"
	// AuthDeniedSuppressed counts auth.denied records left out by the
	// denial limit (see the ledger's DenialLimit).
	AuthDeniedSuppressed Event = "auth.denied.suppressed"
	ConsoleLogin         Event = "console.login"  // a web console session began
	ConsoleLogout        Event = "console.logout" // a web console session ended
)

// Events lists the event of every record a chain can hold. AuditCheckpoint
// is not among them: it is an event of the JSON sink only, a checkpoint
// being a statement about a chain, not a record of it.
var Events = []Event{TokenIssue, TokenVerify, TokenRevoke, KeyCreate, KeyRotate, KeyRetire, ClientCreate, ClientDelete, AuthDenied, AuthDeniedSuppressed, AuditUndelivered, ConsoleLogin, ConsoleLogout}

// Outcomes of records other than token.verify (which carries the
// verification outcome).
const (
	OK     = "ok"
	Denied = "denied"
	Error  = "error"
)

// Record is one audit record (see [auditor.Record]).
type Record = auditor.Record

// Encode appends the canonical encoding of r (see [auditor.Encode]).
func Encode(dst []byte, r *Record) []byte { return auditor.Encode(dst, r) }

// LeafHash is the RFC 6962 leaf hash of an encoded record.
func LeafHash(body []byte) [32]byte { return auditor.LeafHash(body) }

// Decode parses a canonical encoding (see [auditor.Decode]).
func Decode(body []byte) (*Record, error) { return auditor.Decode(body) }

// ErrClosed is returned by appends after the writer was closed.
var ErrClosed = errors.New("audit writer closed")

// Filter selects records in a query. Zero fields match everything.
type Filter struct {
	Since, Until time.Time // time >= Since, time < Until
	Event        Event
	Outcome      string
	Sub          string
	JTI          string
	Actor        string
	KID          string
	RequestID    string
	Chain        string
	After        int64 // cursor: only records stored after the one with this ID
	Before       int64 // cursor: only records stored before the one with this ID (0: no bound)
	Limit        int   // at most this many (0: no limit)
	Newest       bool  // the newest Limit records, still returned oldest first
}
