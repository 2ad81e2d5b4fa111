package tables

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/internal/packed"
)

// The aggregate tables behind [audit.CountQuery], the same in every backend:
//
//	audit_minutes  (minute, chain, event, outcome, n)         minute = Unix ns / 60e9
//	audit_hours    (hour, chain, event, outcome, actor, n)    hour = Unix ns / 3600e9
//	audit_subjects (hour, chain, sub, n)                      token.issue and token.verify with a sub
//	audit_counted  (chain, seq)                               how far each chain is counted
//
// They are kept behind the commit, not in it, by a [Counter]: it takes
// the records each chain gained since its mark (in seq order, which is
// commit order within a chain) from what this process appended (see
// [Counter.Fed]) or else reads them, and adds their counts and moves the
// mark in one transaction, so a crash loses nothing and counts nothing
// twice; several processes on one store move a mark only from where they
// read it. Keeping them in the append's transaction (a trigger) was
// measured first: it more than doubled the SQLite store's cost per
// record. Pruning a record's body does not change the counts; records
// pruned before they were counted (a counter more than the retention
// behind) are not counted when they are read, and are when this process
// appended them.

// RowScanner calls fn for every row of a query's result, stopping at fn's
// first error; fn reads the row with scan.
type RowScanner func(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error

// QueryCounts answers q with the backend's query runner; placeholder makes
// the n-th (from 1) parameter marker of the backend's SQL dialect.
func QueryCounts(ctx context.Context, q audit.CountQuery, placeholder func(n int) string, rows RowScanner) (*audit.Counts, error) {
	top := q.Top
	if top <= 0 {
		top = 10
	}
	width := int64(time.Hour)
	table, bucketCol := "audit_hours", "hour"
	switch q.Step {
	case audit.StepHour:
	case audit.StepMinute:
		width, table, bucketCol = int64(time.Minute), "audit_minutes", "minute"
	default:
		return nil, fmt.Errorf("count audit records: unsupported step %s (want 1m or 1h)", q.Step)
	}
	window := func(col string, width int64) (string, []any) {
		lo, hi := bucketRange(q.Since, q.Until, width)
		cond := col + " >= " + placeholder(1)
		args := []any{lo}
		if hi >= 0 {
			cond += " AND " + col + " < " + placeholder(2)
			args = append(args, hi)
		}
		return cond, args
	}
	out := &audit.Counts{}
	cond, args := window(bucketCol, width)
	err := rows(ctx, "SELECT "+bucketCol+", chain, event, outcome, CAST(SUM(n) AS BIGINT) FROM "+table+" WHERE "+cond+
		" GROUP BY "+bucketCol+", chain, event, outcome ORDER BY "+bucketCol+", chain, event, outcome", args,
		func(scan func(...any) error) error {
			var c audit.Count
			var b int64
			if err := scan(&b, &c.Chain, &c.Event, &c.Outcome, &c.N); err != nil {
				return err
			}
			c.Bucket = time.Unix(0, b*width).UTC()
			out.Series = append(out.Series, c)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("count audit records: %w", err)
	}
	rank := func(dst *[]audit.Ranked, query string) error {
		cond, args := window("hour", int64(time.Hour))
		return rows(ctx, strings.Replace(query, "WINDOW", cond, 1)+" LIMIT "+strconv.Itoa(top), args,
			func(scan func(...any) error) error {
				var r audit.Ranked
				if err := scan(&r.Name, &r.N); err != nil {
					return err
				}
				*dst = append(*dst, r)
				return nil
			})
	}
	if err := rank(&out.Actors, "SELECT actor, CAST(SUM(n) AS BIGINT) AS total FROM audit_hours WHERE WINDOW AND actor <> '' GROUP BY actor ORDER BY total DESC, actor"); err != nil {
		return nil, fmt.Errorf("rank audit actors: %w", err)
	}
	if err := rank(&out.Subjects, "SELECT sub, CAST(SUM(n) AS BIGINT) AS total FROM audit_subjects WHERE WINDOW GROUP BY sub ORDER BY total DESC, sub"); err != nil {
		return nil, fmt.Errorf("rank audit subjects: %w", err)
	}
	return out, nil
}

// bucketRange turns [since, until) into bucket numbers [lo, hi) that cover
// it; hi is -1 when until is zero.
func bucketRange(since, until time.Time, width int64) (lo, hi int64) {
	lo = floorDiv(since.UnixNano(), width)
	if since.IsZero() {
		lo = -1 << 62
	}
	hi = -1
	if !until.IsZero() {
		hi = floorDiv(until.UnixNano()+width-1, width)
	}
	return lo, hi
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// CountKeeper is what a backend does for a [Counter].
type CountKeeper interface {
	Chains(ctx context.Context) ([]string, error)
	TreeSize(ctx context.Context, chain string) (int64, error)
	// CountedUpTo returns every chain's mark (absent: nothing counted).
	CountedUpTo(ctx context.Context) (map[string]int64, error)
	// RecordsAfter calls fn for at most limit records of chain with seq
	// greater than after, in seq order (body nil once pruned).
	RecordsAfter(ctx context.Context, chain string, after int64, limit int, fn func(seq int64, body []byte) error) error
	// AddCounts adds t to the aggregate tables and moves chain's mark from
	// from to to, in one transaction, provided the mark is still at from;
	// otherwise it changes nothing and returns false.
	AddCounts(ctx context.Context, chain string, from, to int64, t *Tally) (bool, error)
}

// Keys of a [Tally].
type (
	MinuteKey struct {
		Minute         int64
		Event, Outcome string
	}
	HourKey struct {
		Hour                  int64
		Event, Outcome, Actor string
	}
	SubjectKey struct {
		Hour int64
		Sub  string
	}
)

// Tally is what a run of one chain's records adds to the aggregate tables.
type Tally struct {
	Minutes  map[MinuteKey]int64
	Hours    map[HourKey]int64
	Subjects map[SubjectKey]int64
}

func newTally() *Tally {
	return &Tally{Minutes: map[MinuteKey]int64{}, Hours: map[HourKey]int64{}, Subjects: map[SubjectKey]int64{}}
}

func (t *Tally) add(r *audit.Record) {
	ns := r.Time.UnixNano()
	t.Minutes[MinuteKey{floorDiv(ns, int64(time.Minute)), string(r.Event), r.Outcome}]++
	hour := floorDiv(ns, int64(time.Hour))
	t.Hours[HourKey{hour, string(r.Event), r.Outcome, r.Actor}]++
	if r.Sub != "" && (r.Event == audit.TokenIssue || r.Event == audit.TokenVerify) {
		t.Subjects[SubjectKey{hour, r.Sub}]++
	}
}

// Counter keeps a backend's aggregate tables close behind its records: on
// demand (every [Counter.Counts] first counts what is new, up to a budget)
// and, from the first Counts on, every [CountInterval] in the background
// until Close. A process that never asks for counts never counts.
//
// Once started, it also takes what this process appends from memory: the
// backend hands it every committed batch ([Counter.Fed]), which it tallies
// there, so a catch-up that finds its mark where the tally starts adds the
// tally instead of reading and decoding those records again (that cost the
// serve hot path about 5% of its CPU). What the tally does not hold, from
// another process or from before the start, is read from the store as
// before; the result is the same either way.
type Counter struct {
	keeper CountKeeper
	mu     sync.Mutex // one catch-up at a time in this process

	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	feeding atomic.Bool // started: Fed tallies the appended records
	fedMu   sync.Mutex  // guards fed; never held across a store call
	fed     map[string]*fedTally
}

// fedTally is what a chain's recent appends add: exactly the records with
// seq in (from, to].
type fedTally struct {
	from, to int64
	t        *Tally
}

// fedMax is how many records a chain's fed tally holds at most: past it
// (the catch-up is failing), it starts again and the store is read.
const fedMax = 50000

// CountInterval is how often a started [Counter] catches up.
const CountInterval = time.Second

const (
	countChunk  = 5000   // records one transaction counts at most
	countBudget = 20000  // records a Counts call counts before answering
	countRound  = 250000 // records one background round counts at most
)

// NewCounter makes a counter for k; nothing runs until it is used.
func NewCounter(k CountKeeper) *Counter {
	ctx, cancel := context.WithCancel(context.Background())
	return &Counter{keeper: k, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// Counts counts what is new (up to a budget), starts the background
// catch-up, and answers q; Pending says how many records were left.
func (c *Counter) Counts(ctx context.Context, q audit.CountQuery, placeholder func(n int) string, rows RowScanner) (*audit.Counts, error) {
	c.start.Do(func() {
		c.feeding.Store(true)
		go c.run()
	})
	pending, err := c.CatchUp(ctx, countBudget)
	if err != nil {
		return nil, fmt.Errorf("count audit records: %w", err)
	}
	out, err := QueryCounts(ctx, q, placeholder, rows)
	if err != nil {
		return nil, err
	}
	out.Pending = pending
	return out, nil
}

func (c *Counter) run() {
	defer close(c.done)
	t := time.NewTicker(CountInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.CatchUp(c.ctx, countRound) // errors: the next round or Counts tries again
	}
}

// Close stops the background catch-up and waits for it; a counter never
// started never starts afterwards. It may be called more than once.
func (c *Counter) Close() {
	c.start.Do(func() { close(c.done) })
	c.cancel()
	<-c.done
}

// Fed tells a started counter that recs (sealed: Seq set, consecutive)
// were just committed as the next records of chain. The backend calls it
// after every append that committed; one it does not make, or makes out of
// order, only means those records are read from the store.
func (c *Counter) Fed(chain string, recs []*audit.Record) {
	if len(recs) == 0 || !c.feeding.Load() {
		return
	}
	first := int64(recs[0].Seq)
	c.fedMu.Lock()
	defer c.fedMu.Unlock()
	if c.fed == nil {
		c.fed = map[string]*fedTally{}
	}
	f := c.fed[chain]
	if f == nil || f.to != first-1 || f.to-f.from >= fedMax {
		f = &fedTally{from: first - 1, to: first - 1, t: newTally()}
		c.fed[chain] = f
	}
	for _, r := range recs {
		f.t.add(r)
	}
	f.to += int64(len(recs))
}

// takeFed returns the fed tally of chain if it starts at the mark from
// (and leaves an empty one where it ends); otherwise t is nil and until is
// where a tally starts after from (the records to read before it), or 0.
func (c *Counter) takeFed(chain string, from int64) (t *Tally, to, until int64) {
	c.fedMu.Lock()
	defer c.fedMu.Unlock()
	f := c.fed[chain]
	switch {
	case f == nil:
		return nil, 0, 0
	case f.from == from && f.to > from:
		c.fed[chain] = &fedTally{from: f.to, to: f.to, t: newTally()}
		return f.t, f.to, 0
	case f.from < from:
		// Counted past its start (another process did): of no use.
		delete(c.fed, chain)
		return nil, 0, 0
	}
	return nil, 0, f.from
}

// CatchUp counts up to budget records not yet counted and returns how
// many are left.
func (c *Counter) CatchUp(ctx context.Context, budget int) (pending int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	chains, err := c.keeper.Chains(ctx)
	if err != nil {
		return 0, err
	}
	marks, err := c.keeper.CountedUpTo(ctx)
	if err != nil {
		return 0, err
	}
	for _, chain := range chains {
		head, err := c.keeper.TreeSize(ctx, chain)
		if err != nil {
			return 0, err
		}
		from := marks[chain]
		for from < head && budget > 0 {
			t, to, until := c.takeFed(chain, from)
			if t != nil {
				if to, err = c.add(ctx, chain, from, to, t); err != nil {
					return 0, err
				}
				budget -= int(to - from)
				from = to
				continue
			}
			n := min(countChunk, budget)
			if until > from {
				n = min(n, int(until-from))
			}
			t = newTally()
			to = from
			err = c.keeper.RecordsAfter(ctx, chain, from, n, func(seq int64, body []byte) error {
				to = seq
				if body == nil {
					return nil
				}
				r, err := packed.Fields(body)
				if err != nil {
					return fmt.Errorf("count record %d of %s: %w", seq, chain, err)
				}
				t.add(r)
				return nil
			})
			if err != nil {
				return 0, err
			}
			if to == from {
				break // a gap at the head: counted once the record is there
			}
			if to, err = c.add(ctx, chain, from, to, t); err != nil {
				return 0, err
			}
			budget -= int(to - from)
			from = to
		}
		if head > from {
			pending += head - from
		}
	}
	return pending, nil
}

// add adds t, the counts of chain's records in (from, to], and returns the
// chain's new mark: to, or where another process moved it.
func (c *Counter) add(ctx context.Context, chain string, from, to int64, t *Tally) (int64, error) {
	ok, err := c.keeper.AddCounts(ctx, chain, from, to, t)
	if err != nil {
		return 0, fmt.Errorf("add audit counts: %w", err)
	}
	if ok {
		return to, nil
	}
	// Another process counted this run: read its mark.
	m, err := c.keeper.CountedUpTo(ctx)
	if err != nil {
		return 0, err
	}
	return m[chain], nil
}
