package tables

import (
	"context"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
)

// Reads is the read side of [store.Store] on the shared tables, run on
// Q with dialect D. A backend embeds it (through an unexported alias) and
// gets these methods once instead of writing a delegation for each.
type Reads struct {
	D       *Dialect
	Q       Querier
	Counter *Counter // keeps the aggregate counts behind Counts
	// Indexer keeps audit_index behind the records; nil when the index
	// is off (store.Options.AuditIndex): queries then scan the records and
	// ignore whatever index an earlier process left.
	Indexer *Indexer
	// IQ, if set, runs the queries of the index (audit_index and its
	// marks, joined with audit) instead of Q: SQLite's index is a file of
	// its own that IQ's connections attach. A query that fails on IQ is
	// answered by a scan on Q: the index only makes queries faster.
	IQ Querier
}

// iq is where the index is read.
func (r Reads) iq() Querier {
	if r.IQ != nil {
		return r.IQ
	}
	return r.Q
}

// Query returns the records matching f, oldest first (newest first with
// f.Newest); pruned records are left out.
func (r Reads) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	if r.Indexer == nil {
		return r.D.ScanRecords(ctx, r.Q, f)
	}
	out, err := r.D.QueryRecords(ctx, r.iq(), f)
	if err != nil && r.IQ != nil && ctx.Err() == nil {
		return r.D.ScanRecords(ctx, r.Q, f)
	}
	return out, err
}

// RecordBody is the canonical encoding of record seq of chain
// ([store.ErrNotFound] when there is none or it was pruned).
func (r Reads) RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error) {
	return r.D.RecordBody(ctx, r.Q, chain, seq)
}

// ScanChain calls fn for every record of chain in seq order (body is nil
// for a pruned record). The slices are only valid during the call.
func (r Reads) ScanChain(ctx context.Context, chain string, fn func(seq int64, body, leaf []byte) error) error {
	return r.D.ScanChainTimes(ctx, r.Q, chain, func(seq, _ int64, body, leaf []byte) error { return fn(seq, body, leaf) })
}

// ScanChainRange is ScanChain for the records with from <= seq < to
// ([store.RangeScanner]).
func (r Reads) ScanChainRange(ctx context.Context, chain string, from, to int64, fn func(seq int64, body, leaf []byte) error) error {
	return r.D.ScanChainRange(ctx, r.Q, chain, from, to, fn)
}

// ScanChainTimes is ScanChain with each record's time (Unix ns).
func (r Reads) ScanChainTimes(ctx context.Context, chain string, fn func(seq, time int64, body, leaf []byte) error) error {
	return r.D.ScanChainTimes(ctx, r.Q, chain, fn)
}

// Chains lists the chains that have records.
func (r Reads) Chains(ctx context.Context) ([]string, error) { return r.D.Chains(ctx, r.Q) }

// TreeSize is the number of records in chain.
func (r Reads) TreeSize(ctx context.Context, chain string) (int64, error) {
	return r.D.TreeSize(ctx, r.Q, chain)
}

// Checkpoints returns chain's checkpoints by size.
func (r Reads) Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error) {
	return r.D.Checkpoints(ctx, r.Q, chain)
}

// Keys returns every managed key, oldest first.
func (r Reads) Keys(ctx context.Context) ([]keys.Stored, error) { return r.D.Keys(ctx, r.Q) }

// RevocationsSince returns revocations made after since (Unix ns) whose
// tokens have not expired before notExpiredAt.
func (r Reads) RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]store.Revocation, error) {
	return r.D.RevocationsSince(ctx, r.Q, since, notExpiredAt)
}

// Clients returns every API client, oldest first.
func (r Reads) Clients(ctx context.Context) ([]store.ClientRow, error) { return r.D.Clients(ctx, r.Q) }

// Meta reads a ledger-wide setting; ok is false when it is not set.
func (r Reads) Meta(ctx context.Context, name string) (value []byte, ok bool, err error) {
	return r.D.Meta(ctx, r.Q, name)
}

// MetaAll returns every ledger-wide setting.
func (r Reads) MetaAll(ctx context.Context) (map[string][]byte, error) { return r.D.MetaAll(ctx, r.Q) }

// Counts answers q from the aggregate tables, counting first what is new
// (see [Counter]).
func (r Reads) Counts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error) {
	return r.Counter.Counts(ctx, q, r.D.Placeholder, r.D.Rows(r.Q))
}

// CountedUpTo returns how far each chain's records are counted.
func (r Reads) CountedUpTo(ctx context.Context) (map[string]int64, error) {
	return r.D.CountedUpTo(ctx, r.Q)
}

// RecordsAfter calls fn for at most limit records of chain after seq
// after, in seq order (body nil once pruned).
func (r Reads) RecordsAfter(ctx context.Context, chain string, after int64, limit int, fn func(seq int64, body []byte) error) error {
	return r.D.RecordsAfter(ctx, r.Q, chain, after, limit, fn)
}

// TreeBuilt is how many of chain's records the stored tree hashes cover.
func (r Reads) TreeBuilt(ctx context.Context, chain string) (int64, error) {
	return r.D.TreeBuilt(ctx, r.Q, chain)
}

// IndexedUpTo returns how far each chain's records are indexed (seq).
func (r Reads) IndexedUpTo(ctx context.Context) (map[string]int64, error) {
	return r.D.IndexedUpTo(ctx, r.iq())
}

// IndexRecordsAfter calls fn for at most limit records of chain after seq
// after with an id below below (0: any), in seq order, with their id (body
// nil once pruned).
func (r Reads) IndexRecordsAfter(ctx context.Context, chain string, after, below int64, limit int, fn func(id, seq int64, body []byte) error) error {
	return r.D.IndexRecordsAfter(ctx, r.Q, chain, after, below, limit, fn)
}

// IndexBound returns the id below which a background round of indexing
// goes while the store grows (0: any) and the newest id: with runs
// (Dialect.IndexRunShift), the start of the newest record's run.
func (r Reads) IndexBound(ctx context.Context) (below, newest int64, err error) {
	if _, err := r.D.one(ctx, r.Q, "SELECT COALESCE(MAX(id), 0) FROM audit", nil, &newest); err != nil {
		return 0, 0, r.D.errorf("newest record: %w", err)
	}
	if r.D.IndexRunShift == 0 {
		return 0, newest, nil
	}
	return newest >> r.D.IndexRunShift << r.D.IndexRunShift, newest, nil
}

// CatchUpIndex indexes up to budget records not yet indexed (every one
// when budget is negative) and returns how many are left.
func (r Reads) CatchUpIndex(ctx context.Context, budget int) (pending int64, err error) {
	if r.Indexer == nil {
		return 0, r.D.errorf("catch up index: %w", ErrIndexOff)
	}
	return r.Indexer.CatchUp(ctx, budget)
}
