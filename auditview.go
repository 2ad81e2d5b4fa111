package jwtledger

import (
	"context"
	"errors"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// What people looking at the ledger (the web console) need beyond the
// audit queries: aggregate counts, a wake-up when records are durable,
// their sign-in and sign-out as records, and the chains.

// AuditCountQuery asks for aggregate counts of records (see [Ledger.AuditCounts]).
type AuditCountQuery = audit.CountQuery

// AuditCounts are aggregate counts of records.
type AuditCounts = audit.Counts

// AuditCounts answers q from counts the store keeps close behind the
// commits (per minute and hour, event and outcome; actors and subjects by
// hour), never by reading the records of the window.
func (l *Ledger) AuditCounts(ctx context.Context, q AuditCountQuery) (*AuditCounts, error) {
	return l.db.Counts(ctx, q)
}

// SubscribeAudit returns a channel that receives a value after this
// node's records are durable (coalesced: one value may stand for many
// batches; read them with [Ledger.Audit] after the newest seen), and a
// function that ends the subscription. The writer never waits for a
// subscriber.
func (l *Ledger) SubscribeAudit() (wake <-chan struct{}, cancel func()) { return l.w.Subscribe() }

// RecordSession records the start (console.login) or end (console.logout)
// of a session of the client m.Actor, durably before it returns.
func (l *Ledger) RecordSession(ctx context.Context, ev AuditEvent, reason string, m Meta) error {
	if ev != audit.ConsoleLogin && ev != audit.ConsoleLogout {
		return invalidf("%q is not a session event", ev)
	}
	rec := l.record(ev, audit.OK, m)
	rec.Reason = reason
	if err := l.w.Record(ctx, func() *audit.Record { return rec }); err != nil {
		return auditErr(ctx, err)
	}
	return nil
}

// ChainStatus is one chain of the ledger (one per node that wrote).
type ChainStatus struct {
	Chain   string `json:"chain"`
	Records int64  `json:"records"` // its size
	Local   bool   `json:"local"`   // this node's
}

// AuditChains lists the ledger's chains with their sizes.
func (l *Ledger) AuditChains(ctx context.Context) ([]ChainStatus, error) {
	chains, err := l.db.Chains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ChainStatus, 0, len(chains))
	for _, c := range chains {
		n, err := l.db.TreeSize(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, ChainStatus{Chain: c, Records: n, Local: c == l.cfg.NodeID})
	}
	return out, nil
}

// AuditRecord returns record seq of chain (an [ErrInvalidRequest] error
// when there is none or its body was pruned).
func (l *Ledger) AuditRecord(ctx context.Context, chain string, seq int64) (*Record, error) {
	body, err := l.db.RecordBody(ctx, chain, seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidf("chain %q has no record %d", chain, seq)
	}
	if err != nil {
		return nil, err
	}
	return audit.Decode(body)
}
