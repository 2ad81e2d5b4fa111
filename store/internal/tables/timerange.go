package tables

import (
	"context"
	"strconv"
	"strings"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// A query with a time bound (since, until) and a page in id order has two
// plans: walk the id index (or a filter's entries of audit_index, in id
// order) from the page's end and keep the records in the range, or read
// the range through the time index and sort it by id. PostgreSQL's
// planner prices the walk as if time and id were independent, so for a
// range in the middle of the ledger it expects the walk to meet the range
// at once and takes it; but time grows with id, and the walk reads every
// record between the page's end and the range: 1.1 s for a 1 h range at
// 440,000 records, linear in the ledger's size. Time is not monotonic in
// id (each node stamps its own records), so no bound on the ids of a
// range follows from its times; what can be known cheaply is whether the
// record at the page's end is in the range (then the walk meets the
// range at once), whether the range is small (a count of at most
// SmallRange entries of the time index) and, with a filter, whether the
// filter's value has fewer entries than that (then its walk is the
// shorter). A small range that none of these favours is read by time:
// the query orders by an expression (id + 0) that no index serves, so at
// most SmallRange records are read and sorted. The answer is the same
// either way. A larger range away from the page's end keeps the
// planner's choice and reads the records between that end and the range.

// rangeProbe is the statement that counts up to d.SmallRange records of
// f's time range.
func (d *Dialect) rangeProbe(f audit.Filter) (string, []any) {
	where, args := timeBounds(f)
	return "SELECT count(*) FROM (SELECT 1 FROM audit WHERE " + strings.Join(where, " AND ") +
		" LIMIT " + strconv.Itoa(d.SmallRange) + ") r", args
}

// keyProbe is the statement that counts up to limit entries of key in
// audit_index.
func keyProbe(key int64, limit int64) (string, []any) {
	return "SELECT count(*) FROM (SELECT 1 FROM audit_index WHERE key = ? LIMIT " + strconv.FormatInt(limit, 10) + ") k", []any{key}
}

// byTimeOrder rewrites scan, a query of scanQuery (not of a chain's
// tail), to sort by id + 0; ok is false when its order is not the one
// expected (it is then unchanged).
func byTimeOrder(scan string) (string, bool) {
	i := strings.LastIndex(scan, " ORDER BY id")
	if i < 0 {
		return scan, false
	}
	return scan[:i] + " ORDER BY id + 0" + scan[i+len(" ORDER BY id"):], true
}

// rangeFirst reports whether f, which a query answers from audit_index
// under key (0: from the audit table), should read its time range first:
// d.SmallRange is set, f has a time bound, the record at the page's end
// is out of the range, the range holds fewer than d.SmallRange records
// and key (if any) more entries than the range records.
func (d *Dialect) rangeFirst(ctx context.Context, q Querier, f audit.Filter, key int64) (bool, error) {
	if d.SmallRange <= 0 || (f.Since.IsZero() && f.Until.IsZero()) {
		return false, nil
	}
	endQ, endArgs := d.pageEnd(f)
	var end int64
	found, err := d.one(ctx, q, endQ, endArgs, &end)
	if err != nil {
		return false, d.errorf("query audit: read the page's end: %w", err)
	}
	if !found || (f.Since.IsZero() || end >= f.Since.UnixNano()) && (f.Until.IsZero() || end < f.Until.UnixNano()) {
		return false, nil // nothing to read, or the walk meets the range at once
	}
	probe, args := d.rangeProbe(f)
	var n int64
	if _, err := d.one(ctx, q, probe, args, &n); err != nil {
		return false, d.errorf("query audit: count the time range: %w", err)
	}
	if n >= int64(d.SmallRange) {
		return false, nil
	}
	if key != 0 {
		probe, args := keyProbe(key, n+1)
		var k int64
		if _, err := d.one(ctx, q, probe, args, &k); err != nil {
			return false, d.errorf("query audit index: count the filter's entries: %w", err)
		}
		if k <= n {
			return false, nil
		}
	}
	return true, nil
}

// pageEnd is the query of the time of the record at the end of the id
// order f's page starts from (the first after f.After, the last before
// f.Before with f.Newest).
func (d *Dialect) pageEnd(f audit.Filter) (string, []any) {
	var where []string
	var args []any
	if f.After > 0 {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := "SELECT time FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Newest {
		return q + " ORDER BY id DESC LIMIT 1", args
	}
	return q + " ORDER BY id LIMIT 1", args
}

// indexQueryByTime is indexQuery (without runs) reading f's time range
// first: the records in it that audit_index names under every one of
// keys, ordered by id + 0.
func (d *Dialect) indexQueryByTime(f audit.Filter, keys []int64, after, before int64, limit int) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
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
	if after > 0 {
		add("a.id > ?", after)
	}
	if before > 0 {
		add("a.id < ?", before)
	}
	for _, k := range keys {
		add("EXISTS (SELECT 1 FROM audit_index i WHERE i.key = ? AND i.id = a.id)", k)
	}
	where = append(where, "length(a.body) > 0")
	query := "SELECT a.id, a.body FROM audit a WHERE " + strings.Join(where, " AND ") + " ORDER BY a.id + 0"
	if f.Newest {
		query += " DESC"
	}
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	return query, args
}

// RangeStatements are the statements a query of f, which has a time
// bound, runs when d.SmallRange is set and its range is read first: the
// read of the page's end, the count of the range, with an indexed filter
// the count of its entries, then the query by time.
func (d *Dialect) RangeStatements(f audit.Filter) []Statement {
	end, eargs := d.pageEnd(f)
	probe, pargs := d.rangeProbe(f)
	out := []Statement{{d.SQL(end), eargs}, {d.SQL(probe), pargs}}
	if keys := filterKeys(f); len(keys) > 0 {
		kq, kargs := keyProbe(keys[0], int64(d.SmallRange))
		q, args := d.indexQueryByTime(f, keys, f.After, f.Before, f.Limit)
		return append(out, Statement{d.SQL(kq), kargs}, Statement{d.SQL(q), args})
	}
	q, args := d.scanQuery(f, "", 0, false, false)
	q, _ = byTimeOrder(q)
	return append(out, Statement{d.SQL(q), args})
}

// timeBounds is the condition of f's time range on the time column, with
// its arguments.
func timeBounds(f audit.Filter) (where []string, args []any) {
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, f.Until.UnixNano())
	}
	return where, args
}
