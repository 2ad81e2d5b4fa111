package tables

import (
	"context"
	"strconv"
	"strings"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// A scan with a time bound (since, until) and a page in id order has two
// plans: walk the id index from the page's end and keep the records in
// the range, or read the range through the time index and sort it by id.
// PostgreSQL's planner prices the walk as if time and id were
// independent, so for a range in the middle of the ledger it expects the
// walk to meet the range at once and takes it; but time grows with id,
// and the walk reads every record between the page's end and the range:
// 1.1 s for a 1 h range at 440,000 records, linear in the ledger's size.
// Time is not monotonic in id (each node stamps its own records), so no
// bound on the ids of a range follows from its times; what can be known
// cheaply is whether the record at the page's end is in the range (then
// the walk meets the range at once) and whether the range is small: a
// count of at most SmallRange entries of the time index. A small range
// whose end is elsewhere is read by time: the scan orders by an
// expression (id + 0) that no index serves, so at most SmallRange
// records are read and sorted. The answer is the same either way. A
// larger range away from the page's end keeps the planner's choice and
// reads the records between that end and the range.

// rangeProbe is the statement that counts up to d.SmallRange records of
// f's time range.
func (d *Dialect) rangeProbe(f audit.Filter) (string, []any) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, f.Until.UnixNano())
	}
	return "SELECT count(*) FROM (SELECT 1 FROM audit WHERE " + strings.Join(where, " AND ") +
		" LIMIT " + strconv.Itoa(d.SmallRange) + ") r", args
}

// byTime rewrites scan, a query of scanQuery (not of a chain's tail), to
// sort by id + 0; ok is false when its order is not the one expected.
func byTime(scan string) (string, bool) {
	i := strings.LastIndex(scan, " ORDER BY id")
	if i < 0 {
		return scan, false
	}
	return scan[:i] + " ORDER BY id + 0" + scan[i+len(" ORDER BY id"):], true
}

// rangeScan returns scan, or, when d.SmallRange is set, f has a time bound
// and its range holds fewer than d.SmallRange records and not the record
// at the page's end, scan read by time.
func (d *Dialect) rangeScan(ctx context.Context, q Querier, f audit.Filter, scan string) (string, error) {
	if d.SmallRange <= 0 || (f.Since.IsZero() && f.Until.IsZero()) {
		return scan, nil
	}
	endQ, endArgs := d.pageEnd(f)
	var end int64
	found, err := d.one(ctx, q, endQ, endArgs, &end)
	if err != nil {
		return "", d.errorf("query audit: read the page's end: %w", err)
	}
	if !found || (f.Since.IsZero() || end >= f.Since.UnixNano()) && (f.Until.IsZero() || end < f.Until.UnixNano()) {
		return scan, nil // nothing to read, or the walk meets the range at once
	}
	probe, args := d.rangeProbe(f)
	var n int64
	if _, err := d.one(ctx, q, probe, args, &n); err != nil {
		return "", d.errorf("query audit: count the time range: %w", err)
	}
	if n >= int64(d.SmallRange) {
		return scan, nil
	}
	s, _ := byTime(scan)
	return s, nil
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

// RangeStatements are the statements a scan of f, which has a time
// bound, runs when d.SmallRange is set and the range is small and away
// from the page's end: the read of the page's end, the count of the
// range, then the scan by time.
func (d *Dialect) RangeStatements(f audit.Filter) []Statement {
	end, eargs := d.pageEnd(f)
	probe, pargs := d.rangeProbe(f)
	q, args := d.scanQuery(f, "", 0, false)
	q, _ = byTime(q)
	return []Statement{{d.SQL(end), eargs}, {d.SQL(probe), pargs}, {d.SQL(q), args}}
}
