// Package service declares what the HTTP server and the web console of
// jwtledger serve need of a ledger beyond the library's API: the pacing of
// group commits by requests in progress, the ledger's health, the records
// of sign-ins and refusals, and the console's views of the audit trail. A
// library user has no use for them, so the root package exports no name
// for them: it registers, in its init, how [Of] finds a ledger's Ops.
package service

import (
	"context"
	"io"
	"net/http"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
)

// Ops is a ledger's side for the server and the console.
type Ops interface {
	// Recording wraps the handler of requests that will probably record
	// an event (the HTTP server wraps every authenticated POST), so group
	// commits are sized to the requests in progress.
	Recording(h http.Handler) http.Handler
	// Failed returns the error that made the ledger unusable for good (its
	// store is no longer the one it opened, errors.Is(err, store.ErrIdentity)), or
	// nil.
	Failed() error
	// ReadOnly returns why the ledger was opened read-only (a damaged store
	// opened with Config.AllowDamaged), or nil.
	ReadOnly() error
	// RecordDenied records a refused request (auth.denied) with the client
	// id when known, never the presented secret. Denials beyond the
	// DenialLimit of their source address and client id are counted
	// instead, and summarized in one auth.denied.suppressed record per
	// interval; the refusal stands either way.
	RecordDenied(ctx context.Context, reason string, m Meta) error
	// RecordSession records the start (console.login) or end
	// (console.logout) of a session of the client m.Actor, durably before
	// it returns.
	RecordSession(ctx context.Context, ev audit.Event, reason string, m Meta) error
	// TokenScopes lists, sorted, the scopes that some client may request
	// at /oauth2/token (the scopes_supported of the RFC 8414 metadata).
	TokenScopes(ctx context.Context) ([]string, error)
	// CheckpointHealth reports this node's checkpoint failures.
	CheckpointHealth() CheckpointStatus
	// AuditChains lists the ledger's chains with their sizes.
	AuditChains(ctx context.Context) ([]ChainStatus, error)
	// AuditCounts answers q from counts the store keeps close behind the
	// commits (per minute and hour, event and outcome; actors and subjects
	// by hour), never by reading the records of the window.
	AuditCounts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error)
	// SubscribeAudit returns a channel that receives a value after this
	// node's records are durable (coalesced: one value may stand for many
	// batches; read them with Ledger.Trail().Query after the newest seen), and a
	// function that ends the subscription. The writer never waits for a
	// subscriber.
	SubscribeAudit() (wake <-chan struct{}, cancel func())
	// ExportMatching is Ledger.Trail().Export with the records that f selects in
	// full (its time range, event, outcome, sub, jti, actor, kid, request
	// id and chain; not its cursors or limit): every other record is
	// exported by its leaf hash only, so the export still verifies
	// offline.
	ExportMatching(ctx context.Context, w io.Writer, format auditor.ExportFormat, f audit.Filter) error
}

var of func(ledger any) Ops

// Register sets how [Of] finds the Ops of a ledger; the root package calls
// it in its init.
func Register(f func(ledger any) Ops) { of = f }

// Of returns the Ops of ledger, a *jwtledger.Ledger.
func Of(ledger any) Ops { return of(ledger) }

// Meta says who asked (the fields of jwtledger.Meta, which converts to it).
type Meta struct {
	Actor     string // client id or local user
	Remote    string // remote address
	RequestID string
}

// ChainStatus is one chain of the ledger (one per node that wrote).
type ChainStatus struct {
	Chain   string `json:"chain"`
	Records int64  `json:"records"` // its size
	Local   bool   `json:"local"`   // this node's
}

// CheckpointStatus is the health of this node's checkpointing.
type CheckpointStatus struct {
	// Failures counts failed attempts since the ledger was opened.
	Failures uint64
	// Failing is set while the newest attempt failed.
	Failing *auditor.CheckpointFailure
}
