package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/trail"
)

type queryOptions struct {
	ledger
	runs, minRuns    int
	budget           time.Duration
	cold, dropCaches bool
	coldMax          time.Duration // no cold run for a case whose warm p50 is longer
	coldCommand      string        // a shell command run before each cold run (a server restart)
	orders           []string
	only             string // only the cases whose name contains it
}

// pageOf is the first page of each order: the HTTP API's default
// (GET /v1/audit: 100 records, oldest first; `audit query --limit 100`)
// and the console explorer's (50 shown and one to know there is more,
// newest first, as `audit tail` reads).
var pageOf = map[string]struct {
	limit  int
	newest bool
}{"oldest": {100, false}, "newest": {51, true}}

// queryCase is one filter of the table.
type queryCase struct {
	Name   string       `json:"name"`
	Filter trail.Filter `json:"filter"`
	// Expect is what the first page must hold: "page" (a full page),
	// "some" (at least one record), "one" or "none".
	Expect string `json:"expect"`
}

// queryCases are the filters of GET /v1/audit and audit query, with
// values taken from the generated ledger (its sample).
func queryCases(s sample) []queryCase {
	mid := s.Start.Add(s.End.Sub(s.Start) / 2)
	cs := []queryCase{
		{"no filter", trail.Filter{}, "page"},
		{"time range (1 h mid-ledger)", trail.Filter{Since: mid, Until: mid.Add(time.Hour)}, "some"},
		{"time range (1 day mid-ledger)", trail.Filter{Since: mid, Until: mid.Add(24 * time.Hour)}, "some"},
		{"since 1 h before the end", trail.Filter{Since: s.End.Add(-time.Hour)}, "some"},
		{"time range (1 h) + event token.verify", trail.Filter{Since: mid, Until: mid.Add(time.Hour), Event: "token.verify"}, "some"},
		{"time range (1 h) + event auth.denied", trail.Filter{Since: mid, Until: mid.Add(time.Hour), Event: "auth.denied"}, "some"},
		{"time range (1 h) + actor (the busiest client)", trail.Filter{Since: mid, Until: mid.Add(time.Hour), Actor: s.CommonActor}, "some"},
		{"event token.issue", trail.Filter{Event: "token.issue"}, "page"},
		{"event auth.denied", trail.Filter{Event: "auth.denied"}, "some"},
		{"outcome expired", trail.Filter{Outcome: "expired"}, "page"},
		{"event+outcome verify/invalid_signature", trail.Filter{Event: "token.verify", Outcome: "invalid_signature"}, "page"},
		{"event+outcome verify/revoked (0.2%)", trail.Filter{Event: "token.verify", Outcome: "revoked"}, "some"},
		{"sub (a mid-ledger subject)", trail.Filter{Sub: s.MidSub}, "some"},
		{"jti (mid-ledger)", trail.Filter{JTI: s.MidJTI}, "some"},
		{"actor (the busiest client)", trail.Filter{Actor: s.CommonActor}, "page"},
		{"request id (mid-ledger)", trail.Filter{RequestID: s.MidRequestID}, "one"},
		{"rare sub (a few records)", trail.Filter{Sub: s.RareSub}, "some"},
		{"rare actor (a few records)", trail.Filter{Actor: s.RareActor}, "some"},
		{"sub, no match", trail.Filter{Sub: "user-nobody"}, "none"},
		{"jti, no match", trail.Filter{JTI: "no-such-jti"}, "none"},
	}
	// A generation cut short before half-way has no mid-ledger values:
	// without them the filter would be no filter.
	cs = slices.DeleteFunc(cs, func(c queryCase) bool {
		f := c.Filter
		return (strings.HasPrefix(c.Name, "sub") && f.Sub == "") || (strings.HasPrefix(c.Name, "jti") && f.JTI == "") || (strings.HasPrefix(c.Name, "request id") && f.RequestID == "")
	})
	if len(s.KIDs) > 0 {
		cs = append(cs, queryCase{"kid (first key)", trail.Filter{KID: s.KIDs[0]}, "page"})
	}
	if len(s.KIDs) > 2 {
		cs = append(cs, queryCase{"kid (a middle key)", trail.Filter{KID: s.KIDs[len(s.KIDs)/2]}, "page"})
	}
	if len(s.KIDs) > 1 {
		cs = append(cs, queryCase{"kid (newest key)", trail.Filter{KID: s.KIDs[len(s.KIDs)-1]}, "page"})
	}
	return cs
}

// queryRow is one filter and order of the table.
type queryRow struct {
	Case    string  `json:"case"`
	Order   string  `json:"order"`
	Limit   int     `json:"limit"`
	Expect  string  `json:"expect"`
	Matches int     `json:"matches"` // records on the first page
	Runs    int     `json:"runs"`    // warm runs (after one unmeasured)
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	// The cold run: in a fresh process (Open, then the query).
	ColdMs     float64 `json:"cold_ms,omitempty"`
	ColdOpenMs float64 `json:"cold_open_ms,omitempty"`
	// ColdSkipped: no cold run, the warm one was longer than -cold-max
	// (a cold one is no faster).
	ColdSkipped bool `json:"cold_skipped,omitempty"`
}

type countRow struct {
	Window  string  `json:"window"`
	Runs    int     `json:"runs"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Records int64   `json:"records"` // counted in the window
	Pending int64   `json:"pending"` // not counted yet
}

type queryResult struct {
	Records int64      `json:"records"`
	Rows    []queryRow `json:"rows"`
	// CountsPending is how many records the overview's counts had not
	// counted yet when the counts were first asked for, and CountsCatchUp
	// how long asking took until they had (the counts are measured after).
	CountsPending int64 `json:"counts_pending"`
	// IndexPending is how many records the query index (when the store
	// has one) had not indexed at open, IndexCatchUp how long it took
	// until it had; the queries are measured after.
	IndexPending  int64   `json:"index_pending"`
	IndexCatchUp  float64 `json:"index_catch_up_seconds"`
	CountsCatchUp float64 `json:"counts_catch_up_seconds"`
	// CachesDropped says whether the page cache was dropped before every
	// cold run (else cold means a fresh process only).
	CachesDropped bool `json:"caches_dropped"`
	// ColdCommand is the command run before every cold run, if any (a
	// restart of the PostgreSQL server: its buffers cold too).
	ColdCommand string     `json:"cold_command,omitempty"`
	Counts      []countRow `json:"counts"`
}

// measureQueries times the first page of every case and order, warm (in
// this process, after one unmeasured run) and cold (in a fresh process),
// and the console's overview counts.
func measureQueries(ctx context.Context, o queryOptions, progress io.Writer) (*queryResult, error) {
	s, err := readSample(o.dir)
	if err != nil {
		return nil, err
	}
	res := &queryResult{CachesDropped: o.cold && o.dropCaches, ColdCommand: o.coldCommand}
	if res.Records, err = countRecords(ctx, o.ledger); err != nil {
		return nil, err
	}
	l, err := jwtledger.Open(ctx, o.config())
	if err != nil {
		return nil, err
	}
	open := true
	defer func() {
		if open {
			l.Close()
		}
	}()
	if res.IndexPending, res.IndexCatchUp, err = waitIndex(ctx, o.ledger, l, progress); err != nil {
		return nil, err
	}
	cases := queryCases(s)
	if o.only != "" {
		cases = slices.DeleteFunc(cases, func(c queryCase) bool { return !strings.Contains(c.Name, o.only) })
	}
	for _, c := range cases {
		for _, ord := range o.orders {
			p := pageOf[ord]
			c := c
			c.Filter.Limit, c.Filter.Newest = p.limit, p.newest
			row := queryRow{Case: c.Name, Order: ord, Limit: p.limit, Expect: c.Expect}
			t0 := time.Now()
			recs, err := l.Trail().Query(ctx, c.Filter) // warms the caches
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			row.Matches = len(recs)
			var ds []time.Duration
			if d := time.Since(t0); d >= o.budget {
				// A query slower than the whole budget: this run (the OS
				// cache was warm) is its only one.
				ds = append(ds, d)
			}
			began := time.Now()
			for len(ds) < o.runs && (len(ds) < o.minRuns || time.Since(began) < o.budget) && (len(ds) == 0 || ds[0] < o.budget) {
				t0 := time.Now()
				if _, err := l.Trail().Query(ctx, c.Filter); err != nil {
					return nil, fmt.Errorf("%s: %w", c.Name, err)
				}
				ds = append(ds, time.Since(t0))
			}
			row.Runs, row.P50ms, row.P99ms = len(ds), ms(percentile(ds, 50)), ms(percentile(ds, 99))
			fmt.Fprintf(progress, "scale: %-42s %-6s %3d records  p50 %9.2f ms  p99 %9.2f ms (%d runs)\n", c.Name, ord, row.Matches, row.P50ms, row.P99ms, row.Runs)
			res.Rows = append(res.Rows, row)
		}
	}
	if res.CountsPending, res.CountsCatchUp, err = catchUpCounts(ctx, l); err != nil {
		return nil, err
	}
	if res.Counts, err = measureCounts(ctx, l, o.runs); err != nil {
		return nil, err
	}
	if !o.cold {
		return res, nil
	}
	open = false
	if err := l.Close(); err != nil { // no other process holds the ledger open during the cold runs
		return nil, err
	}
	for i := range res.Rows {
		row := &res.Rows[i]
		c := caseNamed(cases, row.Case)
		p := pageOf[row.Order]
		c.Filter.Limit, c.Filter.Newest = p.limit, p.newest
		if row.P50ms > ms(o.coldMax) {
			row.ColdSkipped = true
			continue
		}
		if o.coldCommand != "" {
			if out, err := exec.CommandContext(ctx, "sh", "-c", o.coldCommand).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("-cold-command: %w: %s", err, out)
			}
		}
		if o.dropCaches && !dropCaches() {
			res.CachesDropped = false
		}
		var a coldAnswer
		if _, err := spawn(ctx, &a, "query", "-dir", o.dir, "-store", o.store, "-audit-index="+strconv.FormatBool(o.index), "-case", mustJSON(c)); err != nil {
			return nil, err
		}
		if a.Matches != row.Matches {
			return nil, fmt.Errorf("%s: the cold run found %d records, the warm ones %d", c.Name, a.Matches, row.Matches)
		}
		row.ColdMs, row.ColdOpenMs = a.QueryMs, a.OpenMs
		fmt.Fprintf(progress, "scale: %-42s %-6s cold %9.2f ms (open %.0f ms)\n", c.Name, row.Order, a.QueryMs, a.OpenMs)
	}
	return res, nil
}

func caseNamed(cs []queryCase, name string) queryCase {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	panic("no case " + name)
}

// coldAnswer is a child's cold query.
type coldAnswer struct {
	OpenMs  float64 `json:"open_ms"`
	QueryMs float64 `json:"query_ms"`
	Matches int     `json:"matches"`
}

// coldQuery opens the ledger and runs c once: the child's job.
func coldQuery(ctx context.Context, o ledger, c queryCase) (*coldAnswer, error) {
	t0 := time.Now()
	l, err := jwtledger.Open(ctx, o.config())
	if err != nil {
		return nil, err
	}
	defer l.Close()
	t1 := time.Now()
	recs, err := l.Trail().Query(ctx, c.Filter)
	if err != nil {
		return nil, err
	}
	return &coldAnswer{OpenMs: ms(t1.Sub(t0)), QueryMs: ms(time.Since(t1)), Matches: len(recs)}, nil
}

// catchUpCounts asks for the counts until none are pending (at most 15
// minutes): a ledger written faster than it counts (the generator) has
// records left to count when it is opened.
func catchUpCounts(ctx context.Context, l *jwtledger.Ledger) (first int64, took float64, err error) {
	began := time.Now()
	for i := 0; ; i++ {
		c, err := service.Of(l).AuditCounts(ctx, audit.CountQuery{Since: time.Now().Add(-time.Hour), Step: audit.StepMinute})
		if err != nil {
			return 0, 0, err
		}
		if i == 0 {
			first = c.Pending
		}
		if c.Pending == 0 {
			return first, time.Since(began).Seconds(), nil
		}
		if time.Since(began) > 15*time.Minute {
			return first, 0, fmt.Errorf("counts: %d records still not counted after 15 minutes", c.Pending)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling the counts, which run behind the commits
		}
	}
}

// measureCounts times the overview's counting questions, as the console
// asks them for each window (see internal/console/overview.go).
func measureCounts(ctx context.Context, l *jwtledger.Ledger, runs int) ([]countRow, error) {
	var rows []countRow
	for _, w := range []struct {
		name       string
		span, step time.Duration
	}{{"hour", time.Hour, audit.StepMinute}, {"day", 24 * time.Hour, audit.StepHour}, {"week", 7 * 24 * time.Hour, audit.StepHour}} {
		var ds []time.Duration
		row := countRow{Window: w.name}
		for i := range runs + 1 {
			now := time.Now().UTC()
			q := audit.CountQuery{Since: now.Add(-w.span).Truncate(w.step).Add(w.step), Until: now, Step: w.step, Top: 10}
			t0 := time.Now()
			c, err := service.Of(l).AuditCounts(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("counts (%s): %w", w.name, err)
			}
			if i == 0 { // unmeasured
				continue
			}
			ds = append(ds, time.Since(t0))
			row.Records, row.Pending = 0, c.Pending
			for _, k := range c.Series {
				row.Records += k.N
			}
		}
		row.Runs, row.P50ms, row.P99ms = len(ds), ms(percentile(ds, 50)), ms(percentile(ds, 99))
		rows = append(rows, row)
	}
	return rows, nil
}

// measureCountsOnly is the counts part of measureQueries.
func measureCountsOnly(ctx context.Context, o queryOptions) (*queryResult, error) {
	l, err := jwtledger.Open(ctx, o.config())
	if err != nil {
		return nil, err
	}
	defer l.Close()
	res := &queryResult{}
	if res.Records, err = chainsOf(ctx, l); err != nil {
		return nil, err
	}
	if res.CountsPending, res.CountsCatchUp, err = catchUpCounts(ctx, l); err != nil {
		return nil, err
	}
	if res.Counts, err = measureCounts(ctx, l, o.runs); err != nil {
		return nil, err
	}
	return res, nil
}
