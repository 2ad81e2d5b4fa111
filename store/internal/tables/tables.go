// Package tables is the SQL both storage backends run on the tables they
// share (audit, keys, clients, revocations, meta, checkpoints, tree_size
// and the aggregate counts): one copy of each query, written with ?
// placeholders, which a [Dialect] rewrites for the backend. What differs
// between the backends (appends, tree building, locking, notifications,
// upserts of many rows) stays in the backend.
package tables

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/packed"
)

// Querier runs SQL: a backend's pool or one of its transactions.
type Querier interface {
	// Query runs a query and returns its rows; the caller closes them.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// Rows is the result of [Querier.Query] (pgx.Rows is one; database/sql's
// takes a wrapper for its Close).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is what differs between the backends' SQL.
type Dialect struct {
	// Name prefixes error messages: "sqlite", "postgres".
	Name string
	// Dollar makes the n-th placeholder $n instead of ?.
	Dollar bool
	// Columns are the record members that are columns of the audit table
	// (besides chain, seq and time); the others are read from the body.
	Columns []string
	// Member is the SQL expression of a record member read from the
	// canonical body.
	Member func(name string) string
	// EmptyBlob is the SQL literal of an empty body (a pruned record).
	EmptyBlob string
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(err error) bool
	// TailIndex, if set, follows "audit" in the query of a chain's records
	// past its index mark and makes it read the (chain, seq) index (SQLite:
	// " INDEXED BY ...", or its planner may scan the table in id order).
	TailIndex string
	// IndexRunShift, if set, makes audit_index run-major: its rows are
	// (run, key, id) with run = id >> IndexRunShift, so that the rows a
	// round of indexing writes share the pages of one or two runs instead
	// of landing on a random page each; a query reads run after run.
	IndexRunShift uint
	// IndexRunChunk is how many runs one index query searches at most (0: 256).
	IndexRunChunk int
	// ScanBytes, if set, is the scan destination of a []byte read only
	// during a row's callback (database/sql: *sql.RawBytes, no copy).
	ScanBytes func(*[]byte) any
	// SmallRange, if set, makes a scan with a time bound first count,
	// through the time index, whether its range holds fewer than
	// SmallRange records; if it does, the scan reads the range by time
	// and sorts it by id (see timerange.go). PostgreSQL: 20,000.
	SmallRange int
	// TimeSpanMost, if set, makes a query with a time range first read
	// the ids of the records in the range from the time index (TimeIndex
	// names it), at most TimeSpanMost+1 of them, and, when they are no
	// more than that, bound its ids by theirs (see timeSpan).
	TimeSpanMost int
	// TimeIndex follows "audit" in timeSpan's read of the time index
	// (SQLite: " INDEXED BY audit_time").
	TimeIndex string
	// TimePartitioned says the audit table is partitioned by time
	// (PostgreSQL): a spanned query keeps its time bounds plain, not as
	// expressions no index serves, so that the planner prunes the
	// partitions outside the range and knows, from each partition's
	// statistics, how many of its rows are in it. With "time + 0", the
	// newest page of the hour before the end walked every row of the
	// default partition, which held none of them (10 M records: 3.4-40 s).
	TimePartitioned bool
	// PlanWithValues, if set, goes first in the arguments of the scans of
	// the audit table with a time bound (PostgreSQL:
	// pgx.QueryExecModeExec): each is planned with its values, never with
	// a generic plan, which cannot know how many of a partition's rows a
	// time bound keeps. (Only those: planned with their values, the kid
	// filters took 0.9-3 s instead of 1-2 ms at 10 M records.)
	PlanWithValues any
}

// SQL rewrites the ? placeholders of query for the dialect.
func (d *Dialect) SQL(query string) string {
	if !d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Placeholder is the n-th (from 1) parameter marker of the dialect.
func (d *Dialect) Placeholder(n int) string {
	if d.Dollar {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func (d *Dialect) errorf(format string, args ...any) error {
	return fmt.Errorf(d.Name+": "+format, args...)
}

// query runs query, rewritten for d, and calls fn for every row.
// recordQuery is query for the scans of records of f (PlanWithValues,
// when f has a time bound).
func (d *Dialect) recordQuery(ctx context.Context, q Querier, f audit.Filter, query string, args []any, fn func(Rows) error) error {
	if d.PlanWithValues != nil && (!f.Since.IsZero() || !f.Until.IsZero()) {
		args = append([]any{d.PlanWithValues}, args...)
	}
	return d.query(ctx, q, query, args, fn)
}

func (d *Dialect) query(ctx context.Context, q Querier, query string, args []any, fn func(Rows) error) error {
	rows, err := q.Query(ctx, d.SQL(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// one scans the single row of query into dest; found is false when there
// is none.
func (d *Dialect) one(ctx context.Context, q Querier, query string, args []any, dest ...any) (found bool, err error) {
	err = d.query(ctx, q, query, args, func(r Rows) error {
		if found {
			return nil
		}
		found = true
		return r.Scan(dest...)
	})
	return found, err
}

// Rows is a [RowScanner] on q.
func (d *Dialect) Rows(q Querier) RowScanner {
	return func(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error {
		return d.query(ctx, q, query, args, func(r Rows) error { return fn(r.Scan) })
	}
}

// QueryRecords returns the records matching f, oldest first (newest first
// with f.Newest); pruned records are left out. A filter on a record member
// is answered from audit_index up to each chain's mark and by a scan of the
// records past it (see index.go); a query by time, chain and ids alone
// reads the audit table. It is the query of a store with the audit index
// on; with it off, [Dialect.ScanRecords].
func (d *Dialect) QueryRecords(ctx context.Context, q Querier, f audit.Filter) ([]*audit.Record, error) {
	keys := filterKeys(f)
	f, spanned, none, err := d.timeSpan(ctx, q, f, len(keys) > 0)
	if err != nil || none {
		return nil, err
	}
	if len(keys) == 0 {
		return d.scanRecords(ctx, q, f, "", 0, false, spanned)
	}
	// The marks first: every record at or below them is in the index
	// when it is read next, every other one is past them.
	marks, err := d.IndexedUpTo(ctx, q)
	if err != nil {
		return nil, err
	}
	chains := []string{f.Chain}
	if f.Chain == "" {
		if chains, err = d.Chains(ctx, q); err != nil {
			return nil, err
		}
	}
	out, err := d.indexedRecords(ctx, q, f, keys)
	if err != nil {
		return nil, err
	}
	for _, c := range chains {
		tail, err := d.scanRecords(ctx, q, f, c, marks[c], true, false)
		if err != nil {
			return nil, err
		}
		out = mergeRecords(out, tail, f.Newest)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	if f.Newest {
		slices.Reverse(out)
	}
	return out, nil
}

// mergeRecords merges two runs of records in id order (descending when
// desc), dropping a record both have (one indexed while it was read).
func mergeRecords(a, b []*audit.Record, desc bool) []*audit.Record {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]*audit.Record, 0, len(a)+len(b))
	less := func(x, y int64) bool { return x < y != desc }
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0].ID == b[0].ID:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		case less(a[0].ID, b[0].ID):
			out, a = append(out, a[0]), a[1:]
		default:
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// indexRunChunk is how many runs of a run-major index one query searches
// unless Dialect.IndexRunChunk says otherwise (an IN list on the leading
// key column: SQLite seeks every run of the list in one statement, in the
// list's order). Querying one run at a time cost a statement (prepared
// anew: its text changes with the filter) per run, and a value with few
// or no records searches every run: 2,800 at 11 M records, 0.1-0.24 s.
// The chunks grow from one run to 256: a common value still stops within
// its first run (LIMIT), a rare one takes a statement per 256 runs (at
// 10 M records 256 measured about 1.5x faster than 64 for a jti).
const indexRunChunk = 256

// indexedRecords returns the records matching f that audit_index names
// under keys (every key: the first is read in id order, the others
// probed), in id order (descending with f.Newest), at most f.Limit. With
// runs (d.IndexRunShift), it reads up to indexRunChunk runs a query, from
// the newest with f.Newest, and stops at f.Limit.
func (d *Dialect) indexedRecords(ctx context.Context, q Querier, f audit.Filter, keys []int64) ([]*audit.Record, error) {
	var out []*audit.Record
	if d.IndexRunShift == 0 {
		byTime, err := d.rangeFirst(ctx, q, f, keys[0])
		if err != nil {
			return nil, err
		}
		return d.indexedRuns(ctx, q, f, keys, nil, out, byTime)
	}
	var lo, hi int64
	// Two subqueries: SQLite reads one end of the index for a lone MIN or
	// MAX, and the whole index for both in one SELECT.
	found, err := d.one(ctx, q, "SELECT COALESCE((SELECT MIN(run) FROM audit_index), 0), COALESCE((SELECT MAX(run) FROM audit_index), -1)", nil, &lo, &hi)
	if err != nil || !found {
		return nil, d.errorf("query audit index: %w", err)
	}
	if f.After > 0 {
		lo = max(lo, f.After>>d.IndexRunShift)
	}
	if f.Before > 0 {
		hi = min(hi, (f.Before-1)>>d.IndexRunShift)
	}
	most := d.IndexRunChunk
	if most <= 0 {
		most = indexRunChunk
	}
	// The first query searches one run (a common value fills its page
	// there), each next one twice as many, up to most.
	runs := make([]int64, 0, most)
	for i, chunk := int64(0), 1; i <= hi-lo; chunk = min(2*chunk, most) {
		runs = runs[:0]
		for ; i <= hi-lo && len(runs) < chunk; i++ {
			run := lo + i
			if f.Newest {
				run = hi - i
			}
			runs = append(runs, run)
		}
		if out, err = d.indexedRuns(ctx, q, f, keys, runs, out, false); err != nil {
			return nil, err
		}
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out, nil
}

// indexedRuns appends to out the records of indexedRecords in runs (in
// the order given, which is id order; nil: the index has no runs) until
// out holds f.Limit; byTime (no runs) reads f's time range first.
func (d *Dialect) indexedRuns(ctx context.Context, q Querier, f audit.Filter, keys []int64, runs []int64, out []*audit.Record, byTime bool) ([]*audit.Record, error) {
	after, before := f.After, f.Before
	for {
		page := 0
		if f.Limit > 0 {
			page = f.Limit - len(out)
		}
		query, args := d.indexQuery(f, keys, after, before, page, runs)
		if byTime {
			query, args = d.indexQueryByTime(f, keys, after, before, page)
		}
		n, last := 0, int64(0)
		err := d.query(ctx, q, query, args, func(rows Rows) error {
			var id int64
			var body []byte
			if err := rows.Scan(&id, &body); err != nil {
				return err
			}
			n, last = n+1, id
			r, err := packed.Decode(body)
			if err != nil {
				return fmt.Errorf("record id %d: %w", id, err)
			}
			if !matches(r, f) {
				return nil // another value with the same key
			}
			r.ID = id
			out = append(out, r)
			return nil
		})
		if err != nil {
			return nil, d.errorf("query audit index: %w", err)
		}
		if page == 0 || n < page || len(out) >= f.Limit {
			return out, nil
		}
		// Collisions took places on the page: read on.
		if f.Newest {
			before = last
		} else {
			after = last
		}
	}
}

// Statement is a query and its arguments.
type Statement struct {
	SQL  string // in the dialect (placeholders rewritten)
	Args []any
}

// QueryStatements are the statements [Dialect.QueryRecords] runs for f:
// with an indexed filter, the index query and the scan of chain past mark
// (one for each chain), else the one scan of the audit table.
func (d *Dialect) QueryStatements(f audit.Filter, chain string, mark int64) []Statement {
	keys := filterKeys(f)
	if len(keys) == 0 {
		q, args := d.scanQuery(f, "", 0, false, false)
		return []Statement{{d.SQL(q), args}}
	}
	var runs []int64
	if d.IndexRunShift > 0 {
		runs = []int64{0, 1}
	}
	iq, iargs := d.indexQuery(f, keys, f.After, f.Before, f.Limit, runs)
	tq, targs := d.scanQuery(f, chain, mark, true, false)
	return []Statement{{d.SQL(iq), iargs}, {d.SQL(tq), targs}}
}

// indexQuery is the query of at most limit (0: any number) records named
// by every one of keys in audit_index (in runs, unless the index has none:
// nil), with ids between after and before (0: unbounded), that match f's
// time and chain. The runs come in id order (descending with f.Newest):
// the rows are ordered by run, then id, which within one key is the
// index's own order, so SQLite seeks each run in turn and sorts nothing.
func (d *Dialect) indexQuery(f audit.Filter, keys []int64, after, before int64, limit int, runs []int64) (string, []any) {
	var from, where []string
	var args []any
	from = append(from, "audit_index i0")
	if runs != nil {
		where = append(where, "i0.run IN (?"+strings.Repeat(", ?", len(runs)-1)+")")
		for _, r := range runs {
			args = append(args, r)
		}
	}
	where = append(where, "i0.key = ?")
	args = append(args, keys[0])
	for i, k := range keys[1:] {
		t := "i" + strconv.Itoa(i+1)
		from = append(from, "audit_index "+t)
		if runs != nil {
			where = append(where, t+".run = i0.run")
		}
		where = append(where, t+".key = ?", t+".id = i0.id")
		args = append(args, k)
	}
	from = append(from, "audit a")
	where = append(where, "a.id = i0.id")
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if after > 0 {
		add("i0.id > ?", after)
	}
	if before > 0 {
		add("i0.id < ?", before)
	}
	if runs == nil {
		// The first key's first entry on the page (its last, newest
		// first), read once, bounds the audit table's ids too: PostgreSQL
		// may merge-join the index with the audit table in id order, and
		// then walked the table from its start (its end) up to the key's
		// entries: 0.9-3 s at 10 M records for a key rotated in (or out)
		// mid-ledger; 1 ms with the bound.
		agg, cmp := "MIN", ">="
		if f.Newest {
			agg, cmp = "MAX", "<="
		}
		sub, subArgs := "(SELECT "+agg+"(id) FROM audit_index WHERE key = ?", []any{keys[0]}
		if after > 0 {
			sub, subArgs = sub+" AND id > ?", append(subArgs, after)
		}
		if before > 0 {
			sub, subArgs = sub+" AND id < ?", append(subArgs, before)
		}
		where, args = append(where, "a.id "+cmp+" "+sub+")"), append(args, subArgs...)
	}
	if !f.Since.IsZero() {
		add("a.time >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("a.time < ?", f.Until.UnixNano())
	}
	if f.Chain != "" {
		add("a.chain = ?", f.Chain)
	}
	where = append(where, "length(a.body) > 0")
	// CROSS JOIN: SQLite keeps this join order (PostgreSQL plans it).
	query := "SELECT a.id, a.body FROM " + strings.Join(from, " CROSS JOIN ") + " WHERE " + strings.Join(where, " AND ")
	switch {
	case runs != nil && f.Newest:
		query += " ORDER BY i0.run DESC, i0.id DESC"
	case runs != nil:
		query += " ORDER BY i0.run, i0.id"
	case f.Newest:
		query += " ORDER BY i0.id DESC"
	default:
		query += " ORDER BY i0.id"
	}
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	return query, args
}

// timeSpan bounds the ids of a query with a time range by those of the
// records in the range: it reads their ids from the time index ((time,
// id) entries, without the table) and returns f with After and Before
// narrowed to the smallest and largest of them, spanned set; none when
// the range holds no record (within f's cursor). The query then walks the ids between the
// bounds, checking the times, and stops at its page. The bounds are exact
// whatever the order of times and ids (records of several chains, clocks
// stepped back, late appends): the ids are those of the records in the
// range, not a guess from the times at its ends; a disorder only widens
// the walk. The records appended after this read have larger ids: the
// answer is the one of the moment of the read. The read costs about a
// tenth of what reading the range's records costs, which a scan does
// anyway; a query of the audit index (capped) finds a rare value without
// it, so for that one the read stops past d.TimeSpanMost records, and a
// range of more keeps f's bounds.
//
// A page of a time range alone, no cursor, whose end on the page's side
// is near the ledger's (the console's windows: "since an hour ago") is
// found faster by walking the ids from the ledger's end, without the read
// (see timeWalkCheap): spanned, f unchanged.
func (d *Dialect) timeSpan(ctx context.Context, q Querier, f audit.Filter, capped bool) (_ audit.Filter, spanned, none bool, err error) {
	if d.TimeSpanMost <= 0 || (f.Since.IsZero() && f.Until.IsZero()) {
		return f, false, false, nil
	}
	if walk, err := d.timeWalkCheap(ctx, q, f); err != nil || walk {
		return f, walk, false, err
	}
	most := 0
	if capped {
		most = d.TimeSpanMost + 1
	}
	query, args := d.timeSpanQuery(f, most)
	var n, lo, hi int64
	if _, err := d.one(ctx, q, query, args, &n, &lo, &hi); err != nil {
		return f, false, false, d.errorf("query audit time index: %w", err)
	}
	switch {
	case capped && n > int64(d.TimeSpanMost):
		return f, false, false, nil
	case n == 0:
		return f, false, true, nil
	}
	f.After = max(f.After, lo-1)
	if f.Before <= 0 || f.Before > hi+1 {
		f.Before = hi + 1
	}
	if f.Before-f.After <= 1 {
		return f, false, true, nil
	}
	return f, true, false, nil
}

// timeWalkCheap reports whether the page of f is found by walking the ids
// from the end the page starts at (the newest with f.Newest) within about
// TimeSpanMost records: f has a time range and a limit but no other
// filter or cursor, the range holds at least a page (read from the time
// index: the walk stops there), and its end on that side is within
// TimeSpanMost ids of the ledger's. The distance is estimated from the id
// of the record at the range's end in the time index, as if ids followed
// times: a wrong guess costs time, never the answer.
func (d *Dialect) timeWalkCheap(ctx context.Context, q Querier, f audit.Filter) (bool, error) {
	if f.Limit <= 0 || f.Limit > d.TimeSpanMost || len(filterKeys(f)) > 0 || f.Chain != "" || f.After > 0 || f.Before > 0 {
		return false, nil
	}
	var dist int64
	var query string
	var args []any
	switch {
	case f.Newest && f.Until.IsZero(), !f.Newest && f.Since.IsZero():
		// The range reaches the ledger's end: dist 0.
	case f.Newest:
		query, args = "SELECT COALESCE((SELECT MAX(id) FROM audit), 0) - COALESCE((SELECT id FROM audit"+d.TimeIndex+" WHERE time < ? ORDER BY time DESC LIMIT 1), 0)", []any{f.Until.UnixNano()}
	default:
		query, args = "SELECT COALESCE((SELECT id FROM audit"+d.TimeIndex+" WHERE time >= ? ORDER BY time LIMIT 1), 0) - COALESCE((SELECT MIN(id) FROM audit), 0)", []any{f.Since.UnixNano()}
	}
	if query != "" {
		if _, err := d.one(ctx, q, query, args, &dist); err != nil {
			return false, d.errorf("query audit time index: %w", err)
		}
	}
	if dist > int64(d.TimeSpanMost) {
		return false, nil
	}
	query, args = d.timeSpanQuery(f, f.Limit)
	var n, lo, hi int64
	if _, err := d.one(ctx, q, query, args, &n, &lo, &hi); err != nil {
		return false, d.errorf("query audit time index: %w", err)
	}
	return n >= int64(f.Limit), nil
}

// timeSpanQuery is timeSpan's read of the time index: how many records
// the range holds (up to most; 0: all) and their smallest and largest
// id. The cursor is not in it: it would not bound how much of the index
// the read walks.
func (d *Dialect) timeSpanQuery(f audit.Filter, most int) (string, []any) {
	where, args := timeBounds(f)
	const agg = "SELECT COUNT(*), COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM "
	if most <= 0 {
		return agg + "audit" + d.TimeIndex + " WHERE " + strings.Join(where, " AND "), args
	}
	return agg + "(SELECT id FROM audit" + d.TimeIndex + " WHERE " + strings.Join(where, " AND ") +
		" LIMIT " + strconv.Itoa(most) + ") span", args
}

// TimeSpanStatements are the statements a query of f runs with its time
// range spanned (see timeSpan): the reads of the time index (capped, as
// for a query of the audit index, and not), and the scan of the ids
// between bounds (f's After and Before stand for them).
func (d *Dialect) TimeSpanStatements(f audit.Filter) []Statement {
	cq, cargs := d.timeSpanQuery(f, d.TimeSpanMost+1)
	sq, sargs := d.timeSpanQuery(f, 0)
	q, args := d.scanQuery(f, "", 0, false, true)
	return []Statement{{d.SQL(cq), cargs}, {d.SQL(sq), sargs}, {d.SQL(q), args}}
}

// scanQuery is the query of scanRecords. With spanned (f's id bounds are
// those of its time range, see timeSpan) it walks the ids between the
// bounds: the time bounds are expressions no index serves.
func (d *Dialect) scanQuery(f audit.Filter, chain string, mark int64, tail, spanned bool) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	// The scan of a chain past its mark reads the (chain, seq) index: its
	// other bounds are expressions (id + 0) that no other index serves,
	// or a planner may walk the id or time index to avoid the sort of a
	// few rows.
	col := func(c string) string { return c }
	if tail {
		add("chain = ?", chain)
		add("seq > ?", mark)
		col = func(c string) string { return c + " + 0" }
	}
	timeCol := col("time")
	if spanned && !d.TimePartitioned {
		timeCol = "time + 0"
	}
	if !f.Since.IsZero() {
		add(timeCol+" >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add(timeCol+" < ?", f.Until.UnixNano())
	}
	switch {
	case f.Chain == "" || tail:
	case spanned:
		add("(chain || '') = ?", f.Chain) // not the (chain, seq) index
	default:
		add("chain = ?", f.Chain)
	}
	for _, c := range []struct{ member, v string }{{"event", string(f.Event)}, {"outcome", f.Outcome}, {"sub", f.Sub}, {"jti", f.JTI}, {"actor", f.Actor}, {"kid", f.KID}, {"request_id", f.RequestID}} {
		switch {
		case c.v == "":
		case slices.Contains(d.Columns, c.member) && tail:
			// An expression, like the bounds above: the columns' own
			// indexes (PostgreSQL's audit_jti, audit_sub, audit_event,
			// kept for queries with the index off) must not be walked
			// instead of the few records past the mark.
			add("("+c.member+" || '') = ?", c.v)
		case slices.Contains(d.Columns, c.member):
			add(c.member+" = ?", c.v)
		default:
			add(d.Member(c.member)+" = ?", c.v)
		}
	}
	if f.After > 0 {
		add(col("id")+" > ?", f.After)
	}
	if f.Before > 0 {
		add(col("id")+" < ?", f.Before)
	}
	where = append(where, "length(body) > 0") // pruned records have no body to show
	table := "audit"
	if tail {
		table += d.TailIndex
	}
	query := "SELECT id, body FROM " + table + " WHERE " + strings.Join(where, " AND ")
	if f.Newest {
		query += " ORDER BY " + col("id") + " DESC"
	} else {
		query += " ORDER BY " + col("id")
	}
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return query, args
}

// ScanRecords returns the records matching f, oldest first (newest first
// with f.Newest), from the audit table alone: the query of a store whose
// audit index is off (the member filters read the bodies, or the columns
// a backend has).
func (d *Dialect) ScanRecords(ctx context.Context, q Querier, f audit.Filter) ([]*audit.Record, error) {
	f, spanned, none, err := d.timeSpan(ctx, q, f, false)
	if err != nil || none {
		return nil, err
	}
	return d.scanRecords(ctx, q, f, "", 0, false, spanned)
}

// ScanStatement is the statement [Dialect.ScanRecords] runs for f.
func (d *Dialect) ScanStatement(f audit.Filter) Statement {
	q, args := d.scanQuery(f, "", 0, false, false)
	return Statement{d.SQL(q), args}
}

// scanRecords returns the records matching f by reading the audit table,
// in id order (descending with f.Newest), at most f.Limit; with tail, only
// chain's records past seq mark. The member filters read the bodies.
func (d *Dialect) scanRecords(ctx context.Context, q Querier, f audit.Filter, chain string, mark int64, tail, spanned bool) ([]*audit.Record, error) {
	query, args := d.scanQuery(f, chain, mark, tail, spanned)
	if !tail {
		byTime, err := d.rangeFirst(ctx, q, f, 0)
		if err != nil {
			return nil, err
		}
		if byTime {
			query, _ = byTimeOrder(query)
		}
	}
	var out []*audit.Record
	err := d.recordQuery(ctx, q, f, query, args, func(rows Rows) error {
		var id int64
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return err
		}
		r, err := packed.Decode(body)
		if err != nil {
			return fmt.Errorf("record id %d: %w", id, err)
		}
		r.ID = id
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, d.errorf("query audit: %w", err)
	}
	if f.Newest && !tail && len(out) > 1 {
		slices.Reverse(out)
	}
	return out, nil
}

// RecordBody is the canonical encoding of record seq of chain, or
// [store.ErrNotFound] (also for a pruned record).
func (d *Dialect) RecordBody(ctx context.Context, q Querier, chain string, seq int64) ([]byte, error) {
	var body []byte
	found, err := d.one(ctx, q, "SELECT body FROM audit WHERE chain = ? AND seq = ?", []any{chain, seq}, &body)
	switch {
	case err != nil:
		return nil, d.errorf("read record: %w", err)
	case !found || len(body) == 0:
		return nil, store.ErrNotFound
	}
	return packed.Encoding(nil, body), nil
}

// ScanChainTimes calls fn for every record of chain in seq order, with its
// time (Unix ns) and canonical encoding (body, made from a packed body,
// see [packed.Encoding]); body is nil for a pruned record. The slices are
// only valid during the call.
func (d *Dialect) ScanChainTimes(ctx context.Context, q Querier, chain string, fn func(seq, time int64, body, leaf []byte) error) error {
	var seq, t int64
	var body, leaf []byte
	bodyDst, leafDst := d.bytes(&body), d.bytes(&leaf)
	dest := []any{&seq, &t, bodyDst, leafDst} // one slice for every row: Scan through an interface would allocate one per row
	var failed error
	var enc packed.Reader
	err := d.query(ctx, q, "SELECT seq, time, body, leaf FROM audit WHERE chain = ? ORDER BY seq", []any{chain}, func(r Rows) error {
		if err := r.Scan(dest...); err != nil {
			return err
		}
		b := enc.Encoding(body)
		if len(b) == 0 {
			b = nil // pruned
		}
		failed = fn(seq, t, b, leaf)
		return failed
	})
	if err != nil && err != failed {
		return d.errorf("scan chain: %w", err)
	}
	return err
}

// ScanChainRange calls fn for every record of chain with from <= seq < to,
// in seq order, with its canonical encoding (as ScanChainTimes); body is
// nil for a pruned record. The slices are only valid during the call.
func (d *Dialect) ScanChainRange(ctx context.Context, q Querier, chain string, from, to int64, fn func(seq int64, body, leaf []byte) error) error {
	var seq int64
	var body, leaf []byte
	dest := []any{&seq, d.bytes(&body), d.bytes(&leaf)}
	var failed error
	var enc packed.Reader
	err := d.query(ctx, q, "SELECT seq, body, leaf FROM audit WHERE chain = ? AND seq >= ? AND seq < ? ORDER BY seq", []any{chain, from, to}, func(r Rows) error {
		if err := r.Scan(dest...); err != nil {
			return err
		}
		b := enc.Encoding(body)
		if len(b) == 0 {
			b = nil // pruned
		}
		failed = fn(seq, b, leaf)
		return failed
	})
	if err != nil && err != failed {
		return d.errorf("scan chain: %w", err)
	}
	return err
}

func (d *Dialect) bytes(p *[]byte) any {
	if d.ScanBytes != nil {
		return d.ScanBytes(p)
	}
	return p
}

// TreeSize is the number of records in chain.
func (d *Dialect) TreeSize(ctx context.Context, q Querier, chain string) (int64, error) {
	var n int64
	if _, err := d.one(ctx, q, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = ?", []any{chain}, &n); err != nil {
		return 0, d.errorf("tree size: %w", err)
	}
	return n, nil
}

// TreeBuilt is how many of chain's records the stored tree hashes cover.
func (d *Dialect) TreeBuilt(ctx context.Context, q Querier, chain string) (int64, error) {
	var n int64
	if _, err := d.one(ctx, q, "SELECT size FROM tree_size WHERE chain = ?", []any{chain}, &n); err != nil {
		return 0, d.errorf("read tree size: %w", err)
	}
	return n, nil
}

// SetTreeBuilt stores how many of chain's records the tree covers.
func (d *Dialect) SetTreeBuilt(ctx context.Context, q Querier, chain string, size int64) error {
	if _, err := q.Exec(ctx, d.SQL("INSERT INTO tree_size (chain, size) VALUES (?, ?) ON CONFLICT (chain) DO UPDATE SET size = excluded.size"), chain, size); err != nil {
		return d.errorf("store tree size: %w", err)
	}
	return nil
}

// Chains lists the chains that have records.
func (d *Dialect) Chains(ctx context.Context, q Querier) ([]string, error) {
	// A skip scan of the (chain, seq) index: one seek per chain, where
	// SELECT DISTINCT reads every entry (SQLite: 80 ms at a million
	// records).
	var out []string
	err := d.query(ctx, q, `WITH RECURSIVE c(chain) AS (
		SELECT (SELECT chain FROM audit ORDER BY chain LIMIT 1)
		UNION ALL
		SELECT (SELECT chain FROM audit WHERE chain > c.chain ORDER BY chain LIMIT 1) FROM c WHERE c.chain IS NOT NULL
	) SELECT chain FROM c WHERE chain IS NOT NULL`, nil, func(r Rows) error {
		var c string
		if err := r.Scan(&c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, d.errorf("list chains: %w", err)
	}
	return out, nil
}

// PruneBatch is how many record bodies one pruning statement removes, so
// that retention never holds a write lock for long.
const PruneBatch = 1000

// Prune removes the bodies of chain's records with seq <= upTo and time
// before cut, PruneBatch rows a statement (each its own transaction),
// keeping their leaf and tree hashes. A pruned body is stored empty (a
// canonical record never is). It returns how many bodies it removed.
func (d *Dialect) Prune(ctx context.Context, q Querier, chain string, upTo int64, cut time.Time) (int64, error) {
	var total int64
	for lo := int64(1); lo <= upTo; lo += PruneBatch {
		hi := min(lo+PruneBatch-1, upTo)
		n, err := q.Exec(ctx, d.SQL("UPDATE audit SET body = "+d.EmptyBlob+" WHERE chain = ? AND seq BETWEEN ? AND ? AND time < ? AND length(body) > 0"),
			chain, lo, hi, cut.UnixNano())
		if err != nil {
			return total, d.errorf("prune: %w", err)
		}
		total += n
	}
	return total, nil
}

// InsertCheckpoint stores cp (nothing when chain has one of that size).
func (d *Dialect) InsertCheckpoint(ctx context.Context, q Querier, cp *store.Checkpoint) error {
	if _, err := q.Exec(ctx, d.SQL("INSERT INTO checkpoints (chain, size, root, note, time) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
		cp.Chain, cp.Size, cp.Root[:], cp.Note, cp.Time.UnixNano()); err != nil {
		return d.errorf("store checkpoint: %w", err)
	}
	return nil
}

// Checkpoints returns chain's checkpoints by size.
func (d *Dialect) Checkpoints(ctx context.Context, q Querier, chain string) ([]store.Checkpoint, error) {
	var out []store.Checkpoint
	err := d.query(ctx, q, "SELECT size, root, note, time FROM checkpoints WHERE chain = ? ORDER BY size", []any{chain}, func(r Rows) error {
		c := store.Checkpoint{Chain: chain}
		var root []byte
		var t int64
		if err := r.Scan(&c.Size, &root, &c.Note, &t); err != nil {
			return err
		}
		if len(root) != tlog.HashSize {
			return fmt.Errorf("checkpoint %d of chain %q has a malformed root", c.Size, chain)
		}
		c.Root, c.Time = tlog.Hash(root), time.Unix(0, t).UTC()
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, d.errorf("list checkpoints: %w", err)
	}
	return out, nil
}

// Meta reads a ledger-wide setting; ok is false when it is not set.
func (d *Dialect) Meta(ctx context.Context, q Querier, name string) (value []byte, ok bool, err error) {
	ok, err = d.one(ctx, q, "SELECT value FROM meta WHERE name = ?", []any{name}, &value)
	if err != nil {
		return nil, false, d.errorf("read %s: %w", name, err)
	}
	return value, ok, nil
}

// MetaAll returns every ledger-wide setting.
func (d *Dialect) MetaAll(ctx context.Context, q Querier) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := d.query(ctx, q, "SELECT name, value FROM meta", nil, func(r Rows) error {
		var name string
		var value []byte
		if err := r.Scan(&name, &value); err != nil {
			return err
		}
		out[name] = value
		return nil
	})
	if err != nil {
		return nil, d.errorf("read settings: %w", err)
	}
	return out, nil
}

// SetMetaOnce stores value under name unless one is stored, and returns
// the stored one (another process may have won); tx is a transaction.
func (d *Dialect) SetMetaOnce(ctx context.Context, tx Querier, name string, value []byte) ([]byte, error) {
	if _, err := tx.Exec(ctx, d.SQL("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING"), name, value); err != nil {
		return nil, d.errorf("store %s: %w", name, err)
	}
	out, ok, err := d.Meta(ctx, tx, name)
	if err == nil && !ok {
		err = d.errorf("store %s: not stored", name)
	}
	return out, err
}

// MarkClientsChanged gives [store.MetaClientsChanged] a new value.
func (d *Dialect) MarkClientsChanged(ctx context.Context, tx Querier) error {
	mark := make([]byte, 16)
	rand.Read(mark)
	if _, err := tx.Exec(ctx, d.SQL("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
		store.MetaClientsChanged, mark); err != nil {
		return d.errorf("mark clients changed: %w", err)
	}
	return nil
}

// Keys returns every managed key, oldest first.
func (d *Dialect) Keys(ctx context.Context, q Querier) ([]keys.Stored, error) {
	var out []keys.Stored
	err := d.query(ctx, q, "SELECT kid, alg, state, created, rotated, activates, public, sealed FROM keys ORDER BY created, kid", nil, func(r Rows) error {
		var k keys.Stored
		var alg, state string
		var created, rotated, activates int64
		if err := r.Scan(&k.KID, &alg, &state, &created, &rotated, &activates, &k.Public, &k.Sealed); err != nil {
			return err
		}
		k.Alg, k.State = keys.Alg(alg), keys.State(state)
		k.Created = time.Unix(0, created).UTC()
		if rotated != 0 {
			k.Rotated = time.Unix(0, rotated).UTC()
		}
		if activates != 0 {
			k.Activates = time.Unix(0, activates).UTC()
		}
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, d.errorf("list keys: %w", err)
	}
	return out, nil
}

// AddKey stores k in tx (see [store.Store].AddKey): with demote every
// other active key becomes verify-only; with ifEmpty nothing is stored
// and [store.ErrExists] returned when there are keys already; a
// pre-published key is refused while another one is pending.
func (d *Dialect) AddKey(ctx context.Context, tx Querier, k keys.Stored, demote, ifEmpty bool) error {
	count := func(query string) (int64, error) {
		var n int64
		_, err := d.one(ctx, tx, query, nil, &n)
		return n, err
	}
	if ifEmpty {
		n, err := count("SELECT COUNT(*) FROM keys")
		if err != nil {
			return d.errorf("count keys: %w", err)
		}
		if n > 0 {
			return store.ErrExists
		}
	}
	if !k.Activates.IsZero() {
		n, err := count("SELECT COUNT(*) FROM keys WHERE state = 'verify-only' AND activates > 0")
		if err != nil {
			return d.errorf("count pending keys: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("a pre-published key: %w", store.ErrExists)
		}
	}
	if demote {
		if _, err := tx.Exec(ctx, d.SQL("UPDATE keys SET state = 'verify-only', rotated = ? WHERE state = 'active'"), k.Created.UnixNano()); err != nil {
			return d.errorf("demote keys: %w", err)
		}
	}
	var activates int64
	if !k.Activates.IsZero() {
		activates = k.Activates.UnixNano()
	}
	if _, err := tx.Exec(ctx, d.SQL("INSERT INTO keys (kid, alg, state, created, activates, public, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		k.KID, string(k.Alg), string(k.State), k.Created.UnixNano(), activates, k.Public, k.Sealed); err != nil {
		if d.IsUnique(err) {
			return fmt.Errorf("key %s: %w", k.KID, store.ErrExists)
		}
		return d.errorf("add key: %w", err)
	}
	return nil
}

// SetKeyState changes the state of key kid in tx ([store.ErrNotFound] if
// none).
func (d *Dialect) SetKeyState(ctx context.Context, tx Querier, kid string, state keys.State, at time.Time) error {
	n, err := tx.Exec(ctx, d.SQL("UPDATE keys SET state = ?, rotated = CASE WHEN rotated = 0 THEN ? ELSE rotated END WHERE kid = ?"), string(state), at.UnixNano(), kid)
	if err != nil {
		return d.errorf("set key state: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("key %q: %w", kid, store.ErrNotFound)
	}
	return nil
}

// PromoteKey makes the pre-published key kid active and every other
// active key verify-only, in tx; [store.ErrNotFound] when kid is no longer
// a pending key (another process promoted it).
func (d *Dialect) PromoteKey(ctx context.Context, tx Querier, kid string, at time.Time) error {
	n, err := tx.Exec(ctx, d.SQL("UPDATE keys SET state = 'active', activates = 0 WHERE kid = ? AND state = 'verify-only' AND activates > 0"), kid)
	if err != nil {
		return d.errorf("promote key: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("pending key %q: %w", kid, store.ErrNotFound)
	}
	if _, err := tx.Exec(ctx, d.SQL("UPDATE keys SET state = 'verify-only', rotated = ? WHERE state = 'active' AND kid <> ?"), at.UnixNano(), kid); err != nil {
		return d.errorf("demote keys: %w", err)
	}
	return nil
}

// Revoke records the revocation of (iss, jti) in tx and reports whether it
// was already revoked.
func (d *Dialect) Revoke(ctx context.Context, tx Querier, iss, jti string, exp, at time.Time) (already bool, err error) {
	var e int64
	if !exp.IsZero() {
		e = exp.Unix()
	}
	n, err := tx.Exec(ctx, d.SQL("INSERT INTO revocations (iss, jti, exp, revoked_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"), iss, jti, e, at.UnixNano())
	if err != nil {
		return false, d.errorf("revoke: %w", err)
	}
	return n == 0, nil
}

// RevocationsSince returns revocations made after since (Unix ns) whose
// tokens have not expired before notExpiredAt.
func (d *Dialect) RevocationsSince(ctx context.Context, q Querier, since int64, notExpiredAt time.Time) ([]store.Revocation, error) {
	var out []store.Revocation
	err := d.query(ctx, q, "SELECT iss, jti, exp, revoked_at FROM revocations WHERE revoked_at > ? AND (exp = 0 OR exp >= ?)", []any{since, notExpiredAt.Unix()}, func(r Rows) error {
		var rv store.Revocation
		var exp int64
		if err := r.Scan(&rv.Iss, &rv.JTI, &exp, &rv.RevokedAt); err != nil {
			return err
		}
		if exp != 0 {
			rv.Exp = time.Unix(exp, 0)
		}
		out = append(out, rv)
		return nil
	})
	if err != nil {
		return nil, d.errorf("read revocations: %w", err)
	}
	return out, nil
}

// Clients returns every API client, oldest first.
func (d *Dialect) Clients(ctx context.Context, q Querier) ([]store.ClientRow, error) {
	var out []store.ClientRow
	err := d.query(ctx, q, "SELECT id, name, secret_hash, scopes, policy, created FROM clients ORDER BY created, id", nil, func(r Rows) error {
		var c store.ClientRow
		var created int64
		if err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Scopes, &c.Policy, &created); err != nil {
			return err
		}
		c.Created = time.Unix(0, created).UTC()
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, d.errorf("list clients: %w", err)
	}
	return out, nil
}

// AddClient stores c in tx ([store.ErrExists] for a taken id) and marks
// the clients changed.
func (d *Dialect) AddClient(ctx context.Context, tx Querier, c store.ClientRow) error {
	if _, err := tx.Exec(ctx, d.SQL("INSERT INTO clients (id, name, secret_hash, scopes, policy, created) VALUES (?, ?, ?, ?, ?, ?)"),
		c.ID, c.Name, c.SecretHash, c.Scopes, c.Policy, c.Created.UnixNano()); err != nil {
		if d.IsUnique(err) {
			return fmt.Errorf("client %s: %w", c.ID, store.ErrExists)
		}
		return d.errorf("add client: %w", err)
	}
	return d.MarkClientsChanged(ctx, tx)
}

// DeleteClient removes client id in tx ([store.ErrNotFound] if none) and
// marks the clients changed.
func (d *Dialect) DeleteClient(ctx context.Context, tx Querier, id string) error {
	return d.changeClient(ctx, tx, "delete client", "DELETE FROM clients WHERE id = ?", id)
}

// SetClientSecret replaces the secret hash of client id in tx
// ([store.ErrNotFound] if none) and marks the clients changed.
func (d *Dialect) SetClientSecret(ctx context.Context, tx Querier, id string, hash []byte) error {
	return d.changeClient(ctx, tx, "rotate client secret", "UPDATE clients SET secret_hash = ? WHERE id = ?", hash, id)
}

func (d *Dialect) changeClient(ctx context.Context, tx Querier, what, query string, args ...any) error {
	n, err := tx.Exec(ctx, d.SQL(query), args...)
	if err != nil {
		return d.errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("client %q: %w", args[len(args)-1], store.ErrNotFound)
	}
	return d.MarkClientsChanged(ctx, tx)
}

// CountedUpTo returns how far each chain's records are counted.
func (d *Dialect) CountedUpTo(ctx context.Context, q Querier) (map[string]int64, error) {
	return d.marks(ctx, q, "audit_counted", "count")
}

// marks reads a table of per-chain marks (chain, seq): how far a
// follower of the commits (the counter, the indexer) has come.
func (d *Dialect) marks(ctx context.Context, q Querier, table, what string) (map[string]int64, error) {
	out := map[string]int64{}
	err := d.query(ctx, q, "SELECT chain, seq FROM "+table, nil, func(r Rows) error {
		var c string
		var seq int64
		if err := r.Scan(&c, &seq); err != nil {
			return err
		}
		out[c] = seq
		return nil
	})
	if err != nil {
		return nil, d.errorf("read %s marks: %w", what, err)
	}
	return out, nil
}

// RecordsAfter calls fn for at most limit records of chain after seq
// after, in seq order, with their bodies as stored (packed or canonical,
// see [packed.Fields]; nil once pruned).
func (d *Dialect) RecordsAfter(ctx context.Context, q Querier, chain string, after int64, limit int, fn func(seq int64, body []byte) error) error {
	var failed error
	err := d.query(ctx, q, "SELECT seq, body FROM audit WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?", []any{chain, after, limit}, func(r Rows) error {
		var seq int64
		var body []byte
		if err := r.Scan(&seq, &body); err != nil {
			return err
		}
		if len(body) == 0 {
			body = nil
		}
		failed = fn(seq, body)
		return failed
	})
	if err != nil && err != failed {
		return d.errorf("read records to count: %w", err)
	}
	return err
}

// MoveCountMark moves chain's count mark from from to to in tx, provided
// it is still at from; moved is false otherwise.
func (d *Dialect) MoveCountMark(ctx context.Context, tx Querier, chain string, from, to int64) (moved bool, err error) {
	n, err := tx.Exec(ctx, d.SQL(`INSERT INTO audit_counted (chain, seq) VALUES (?, ?)
			ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq WHERE audit_counted.seq = ?`), chain, to, from)
	return n > 0, err
}

// Leaves appends to dst the leaf hashes of at most limit records of chain
// after the first size, in seq order; a missing record or a malformed
// leaf hash is an error (the tree cannot be extended past it).
func (d *Dialect) Leaves(ctx context.Context, q Querier, chain string, size int64, limit int, dst []tlog.Hash) ([]tlog.Hash, error) {
	var seq int64
	var leaf []byte
	leafDst := d.bytes(&leaf)
	n := 0
	dest := []any{&seq, leafDst}
	var bad error
	err := d.query(ctx, q, "SELECT seq, leaf FROM audit WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?", []any{chain, size, limit}, func(r Rows) error {
		if err := r.Scan(dest...); err != nil {
			return err
		}
		n++
		if want := size + int64(n); seq != want {
			bad = d.errorf("chain %q: record %d is missing, the tree cannot be extended past it", chain, want)
			return bad
		}
		if len(leaf) != tlog.HashSize {
			bad = d.errorf("chain %q: record %d has a malformed leaf hash", chain, seq)
			return bad
		}
		dst = append(dst, tlog.Hash(leaf))
		return nil
	})
	if err != nil && err != bad {
		return nil, d.errorf("read leaves: %w", err)
	}
	return dst, err
}

// Migrations lists the migration files of a backend, in the order they
// apply.
func Migrations(fsys fs.ReadDirFS, dir string) ([]string, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// SignCheckpoint signs chain's tree of size records (its hashes read
// through hashes) with sign and stores the checkpoint, in tx.
func (d *Dialect) SignCheckpoint(ctx context.Context, tx Querier, chain string, size int64, hashes tlog.HashReader, at time.Time, sign func(size int64, root tlog.Hash) ([]byte, error)) (*store.Checkpoint, error) {
	root, err := tlog.TreeHash(size, hashes)
	if err != nil {
		return nil, err
	}
	note, err := sign(size, root)
	if err != nil {
		return nil, err
	}
	cp := &store.Checkpoint{Chain: chain, Size: size, Root: root, Note: note, Time: at}
	if err := d.InsertCheckpoint(ctx, tx, cp); err != nil {
		return nil, err
	}
	return cp, nil
}

// Seal numbers recs as the records after head of chain and seals them the
// one way every store does, [auditor.Seal]: Normalize, the canonical
// encoding, the leaf hash. It returns the bodies, which share one backing array.
func Seal(chain string, head uint64, recs []*audit.Record) [][]byte {
	arena := make([]byte, 0, 512*len(recs))
	ends := make([]int, 0, len(recs))
	for _, r := range recs {
		head++
		r.Seq, r.Chain = head, chain
		arena = auditor.Seal(arena, r)
		ends = append(ends, len(arena))
	}
	bodies := make([][]byte, len(recs))
	off := 0
	for i, end := range ends {
		bodies[i] = arena[off:end:end]
		off = end
	}
	return bodies
}
