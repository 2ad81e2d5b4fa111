package tables

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/internal/packed"
)

// The index of the audit filters, the same in every backend:
//
//	audit_index   (key, id)     PRIMARY KEY (key, id)
//	audit_indexed (chain, seq)  how far each chain's records are indexed
//
// key is a 64-bit hash of a filter and its value ([IndexKey]): one row per
// record and filter it has a value for (event, outcome, the event and
// outcome pair, sub, jti, actor, kid, request_id), id the record's row in
// audit. Two values may share a key: a query reads the records a key
// names and keeps those that match, so a collision costs a record read,
// never a wrong answer.
//
// It is kept behind the commit, not in it, by an [Indexer], the way a
// [Counter] keeps the counts: the rows of a run of one chain's records and
// the move of the chain's mark are one transaction, made only if the mark
// is where the indexer read it, so a crash loses nothing and indexes
// nothing twice, and several processes on one store may run one each.
// Keeping it in the append's transaction (SQLite virtual columns with
// partial indexes) made the append 3-10x slower.
//
// A query ([Dialect.QueryRecords]) reads the marks first, then the
// records the index names and, the old way (a scan of the record bodies),
// each chain's records past its mark; it merges the two by id. So it never
// misses a committed record, however far behind the index is.
//
// The index is opt-in (store.Options.AuditIndex, off by default): its
// follower costs the append CPU (eight rows per record), and on
// PostgreSQL the database's writes (SQLite keeps it in a file of its own,
// with its own lock: see store/sqlite/indexfile.go and docs/design.md). A store
// opened with it off runs no Indexer, writes no index row and answers
// queries from the audit table alone ([Dialect.ScanRecords]), ignoring
// the index and marks an earlier process left: they stay behind the
// records, and the next process that opens the store with the index on
// catches up from the marks (a record pruned meanwhile is left out by
// the query's join, as always).

// IndexKey is the key of member (an indexed filter) with value.
func IndexKey(member string, value ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	for _, v := range value {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	return int64(h.Sum64())
}

// Names of the indexed filters (record members, and the pair).
const (
	keyEvent        = "event"
	keyOutcome      = "outcome"
	keyEventOutcome = "event+outcome"
	keySub          = "sub"
	keyJTI          = "jti"
	keyActor        = "actor"
	keyKID          = "kid"
	keyRequestID    = "request_id"
)

// IndexEntry is one row of audit_index.
type IndexEntry struct{ Key, ID int64 }

// IndexValues are the indexed members of a record.
type IndexValues struct{ Event, Outcome, Sub, JTI, Actor, KID, RequestID string }

// ValuesOf returns the indexed members of r.
func ValuesOf(r *audit.Record) IndexValues {
	return IndexValues{string(r.Event), r.Outcome, r.Sub, r.JTI, r.Actor, r.KID, r.RequestID}
}

// AppendEntries appends the index rows of the record id with v to dst.
func (v IndexValues) AppendEntries(dst []IndexEntry, id int64) []IndexEntry {
	dst = append(dst, IndexEntry{IndexKey(keyEvent, v.Event), id}, IndexEntry{IndexKey(keyOutcome, v.Outcome), id},
		IndexEntry{IndexKey(keyEventOutcome, v.Event, v.Outcome), id})
	for _, m := range []struct{ name, v string }{{keySub, v.Sub}, {keyJTI, v.JTI}, {keyActor, v.Actor}, {keyKID, v.KID}, {keyRequestID, v.RequestID}} {
		if m.v != "" {
			dst = append(dst, IndexEntry{IndexKey(m.name, m.v), id})
		}
	}
	return dst
}

// RecentSource is what a backend that keeps the filter values of the
// records it appended lately does for its [Indexer], which would
// otherwise read and decode them again.
type RecentSource interface {
	// RecentEntries appends to dst the index rows of at most limit records
	// of chain after seq after with ids below below (0: any), in seq
	// order, and returns the seq of the last; ok is false when it does not
	// hold the record after after.
	RecentEntries(chain string, after, below int64, limit int, dst []IndexEntry) (out []IndexEntry, to int64, ok bool)
}

// filterKeys are the index keys a record matching f has, the most
// selective first (the first drives the query, the others are probed);
// none when f names no indexed filter.
func filterKeys(f audit.Filter) []int64 {
	var out []int64
	for _, m := range []struct{ name, v string }{{keyJTI, f.JTI}, {keyRequestID, f.RequestID}, {keySub, f.Sub}, {keyActor, f.Actor}, {keyKID, f.KID}} {
		if m.v != "" {
			out = append(out, IndexKey(m.name, m.v))
		}
	}
	switch {
	case f.Event != "" && f.Outcome != "":
		out = append(out, IndexKey(keyEventOutcome, string(f.Event), f.Outcome))
	case f.Event != "":
		out = append(out, IndexKey(keyEvent, string(f.Event)))
	case f.Outcome != "":
		out = append(out, IndexKey(keyOutcome, f.Outcome))
	}
	return out
}

// matches reports whether r has every member value f asks for (the
// checks the index keys stand for; time, chain and ids are SQL's).
func matches(r *audit.Record, f audit.Filter) bool {
	for _, c := range []struct{ want, got string }{{string(f.Event), string(r.Event)}, {f.Outcome, r.Outcome}, {f.Sub, r.Sub},
		{f.JTI, r.JTI}, {f.Actor, r.Actor}, {f.KID, r.KID}, {f.RequestID, r.RequestID}} {
		if c.want != "" && c.want != c.got {
			return false
		}
	}
	return true
}

// IndexedUpTo returns how far each chain's records are indexed (seq).
func (d *Dialect) IndexedUpTo(ctx context.Context, q Querier) (map[string]int64, error) {
	return d.marks(ctx, q, "audit_indexed", "index")
}

// MoveIndexMark moves chain's index mark from from to to in tx, provided
// it is still at from; moved is false otherwise.
func (d *Dialect) MoveIndexMark(ctx context.Context, tx Querier, chain string, from, to int64) (moved bool, err error) {
	n, err := tx.Exec(ctx, d.SQL(`INSERT INTO audit_indexed (chain, seq) VALUES (?, ?)
			ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq WHERE audit_indexed.seq = ?`), chain, to, from)
	return n > 0, err
}

// IndexRecordsAfter calls fn for at most limit records of chain after seq
// after with an id below below (0: any), in seq order, with their id and
// body as stored (packed or canonical, see [packed.Fields]; nil once
// pruned). The body is only valid during the call.
func (d *Dialect) IndexRecordsAfter(ctx context.Context, q Querier, chain string, after, below int64, limit int, fn func(id, seq int64, body []byte) error) error {
	var id, seq int64
	var body []byte
	dest := []any{&id, &seq, d.bytes(&body)}
	var failed error
	query, args := "SELECT id, seq, body FROM audit WHERE chain = ? AND seq > ?", []any{chain, after}
	if below > 0 {
		// A chain's ids grow with its seq: this is a prefix of the run.
		query, args = query+" AND id < ?", append(args, below)
	}
	err := d.query(ctx, q, query+" ORDER BY seq LIMIT ?", append(args, limit), func(r Rows) error {
		if err := r.Scan(dest...); err != nil {
			return err
		}
		b := body
		if len(b) == 0 {
			b = nil
		}
		failed = fn(id, seq, b)
		return failed
	})
	if err != nil && err != failed {
		return d.errorf("read records to index: %w", err)
	}
	return err
}

// IndexKeeper is what a backend does for an [Indexer].
type IndexKeeper interface {
	Chains(ctx context.Context) ([]string, error)
	TreeSize(ctx context.Context, chain string) (int64, error)
	// IndexedUpTo returns every chain's mark (absent: nothing indexed).
	IndexedUpTo(ctx context.Context) (map[string]int64, error)
	// IndexRecordsAfter calls fn for at most limit records of chain with
	// seq greater than after and an id below below (0: any), in seq order
	// (body nil once pruned).
	IndexRecordsAfter(ctx context.Context, chain string, after, below int64, limit int, fn func(id, seq int64, body []byte) error) error
	// IndexBound returns the id below which a background round indexes
	// while the store grows (0: any; SQLite: the start of the run the
	// newest record is in, so that each run's rows are written together)
	// and the newest id.
	IndexBound(ctx context.Context) (below, newest int64, err error)
	// AddIndex stores entries (in no particular order; a backend sorts
	// them its B-tree's way if that helps) and moves chain's mark from
	// from to to, in one transaction, provided the mark is still at from; otherwise it
	// changes nothing and returns false.
	AddIndex(ctx context.Context, chain string, from, to int64, entries []IndexEntry) (bool, error)
}

// ErrIndexOff is the error of a catch-up of the index of a store opened
// with the index off.
var ErrIndexOff = errors.New("the audit index is off")

// IndexInterval is how often a running [Indexer] looks for new records.
// What it has not indexed yet, queries read the old way; at 16,000
// records a second that is at most a few thousand records.
const IndexInterval = 100 * time.Millisecond

// indexChunk is how many records one index transaction covers at most, so
// that catching up never holds the write lock for long: one SQLite run.
const indexChunk = 4096

// Indexer keeps a backend's audit_index close behind its records: from
// [Indexer.Start] (at open) every [IndexInterval] until Close.
// IndexInterval is short so that the records a query reads the slow way
// stay few; a round that finds nothing new costs a few index reads.
type Indexer struct {
	keeper IndexKeeper
	mu     sync.Mutex // one catch-up at a time in this process

	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// NewIndexer makes an indexer for k; nothing runs until Start.
func NewIndexer(k IndexKeeper) *Indexer {
	ctx, cancel := context.WithCancel(context.Background())
	return &Indexer{keeper: k, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// StartBudget is how many records [Indexer.Start] indexes before it
// returns: all of them on a store that was open recently, the first ones
// of a store migrated from before the index (the rest follow in the
// background, and queries read them the slow way meanwhile).
const StartBudget = 20000

// Start indexes up to StartBudget records at once and goes on in the
// background every IndexInterval. Errors are left to the next round: the
// index only makes queries faster.
func (x *Indexer) Start(ctx context.Context) {
	x.start.Do(func() {
		x.CatchUp(ctx, StartBudget)
		go x.run()
	})
}

func (x *Indexer) run() {
	defer close(x.done)
	t := time.NewTicker(IndexInterval)
	defer t.Stop()
	last := int64(-1)
	for {
		// While the store grows, index up to the bound; once it stands
		// still for a round, everything.
		if below, newest, err := x.keeper.IndexBound(x.ctx); err == nil {
			if newest == last {
				below = 0
			}
			last = newest
			x.catchUp(x.ctx, -1, below) // errors: the next round tries again
		}
		select {
		case <-x.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops the background indexing and waits for it; an indexer never
// started never starts afterwards. It may be called more than once, and
// on a nil Indexer (the index off).
func (x *Indexer) Close() {
	if x == nil {
		return
	}
	x.start.Do(func() { close(x.done) })
	x.cancel()
	<-x.done
}

// CatchUp indexes up to budget records not yet indexed (every one when
// budget is negative) and returns how many are left.
func (x *Indexer) CatchUp(ctx context.Context, budget int) (pending int64, err error) {
	return x.catchUp(ctx, budget, 0)
}

// catchUp is CatchUp of the records with an id below below (0: all).
func (x *Indexer) catchUp(ctx context.Context, budget int, below int64) (pending int64, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	chains, err := x.keeper.Chains(ctx)
	if err != nil {
		return 0, err
	}
	marks, err := x.keeper.IndexedUpTo(ctx)
	if err != nil {
		return 0, err
	}
	var entries []IndexEntry
	for _, chain := range chains {
		head, err := x.keeper.TreeSize(ctx, chain)
		if err != nil {
			return 0, err
		}
		from := marks[chain]
		for from < head && budget != 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			n := indexChunk
			if budget > 0 {
				n = min(n, budget)
			}
			entries = entries[:0]
			to := from
			var err error
			if rs, ok := x.keeper.(RecentSource); ok {
				entries, to, _ = rs.RecentEntries(chain, from, below, n, entries)
			}
			if to == from {
				err = x.keeper.IndexRecordsAfter(ctx, chain, from, below, n, func(id, seq int64, body []byte) error {
					to = seq
					if body == nil {
						return nil // pruned: never found by a query
					}
					r, err := packed.Fields(body)
					if err != nil {
						return fmt.Errorf("index record %d of %s: %w", seq, chain, err)
					}
					entries = ValuesOf(r).AppendEntries(entries, id)
					return nil
				})
			}
			if err != nil {
				return 0, err
			}
			if to == from {
				break // a gap at the head, or the bound: indexed later
			}
			ok, err := x.keeper.AddIndex(ctx, chain, from, to, entries)
			if err != nil {
				return 0, fmt.Errorf("index audit records: %w", err)
			}
			if !ok {
				// Another process indexed this run: read its mark.
				m, err := x.keeper.IndexedUpTo(ctx)
				if err != nil {
					return 0, err
				}
				to = m[chain]
			}
			if budget > 0 {
				budget = max(0, budget-int(to-from))
			}
			from = to
		}
		if head > from {
			pending += head - from
		}
	}
	return pending, nil
}
