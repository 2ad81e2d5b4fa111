package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" { // a child job spawned by a test
		os.Exit(runChild(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every command of the tool on a small ledger and checks
// that its report is well-formed and sane: the counts add up, every filter
// finds what the generated ledger holds, the latencies are ordered. It
// asserts no timing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a ledger of 100,000 records")
	}
	t.Run("sqlite", func(t *testing.T) { smoke(t, "", 100_000) })
	t.Run("postgres", func(t *testing.T) { smoke(t, pgtest.Database(t), 20_000) })
}

func smoke(t *testing.T, store string, records int64) {
	dir := t.TempDir()
	// -budget is far above any query here: with 1 s a loaded machine made
	// a first query slower than the budget, which then gets one run only
	// (the tool's rule for slow queries), and the check of three runs failed.
	args := []string{"all", "-dir", dir, "-store", store, "-records", fmt.Sprint(records), "-max-duration", "5m",
		"-runs", "3", "-budget", "1m", "-drop-caches=false", "-rounds", "2", "-duration", "200ms", "-warmup", "50ms",
		"-flat-callers", "8", "-checkpoints", "2", "-json", "-cold-command", "echo cold >> " + filepath.Join(dir, "cold.log")}
	var out, errs bytes.Buffer
	if code := run(context.Background(), args, &out, &errs); code != 0 {
		t.Fatalf("scale %s: exit %d\n%s", strings.Join(args, " "), code, errs.String())
	}
	var rep report
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out.String())
	}
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}

	g := rep.Gen
	if g == nil {
		t.Fatal("no generation in the report")
	}
	check(g.Stopped == "records" && g.Records >= records && g.Added >= records, "generation: stopped %q with %d records (%d added), want %d", g.Stopped, g.Records, g.Added, records)
	check(g.RecordsPerSecond > 0 && g.BytesPerRecord > 100 && g.BytesPerRecord < 20_000, "generation: %.0f records/s, %.0f bytes per record", g.RecordsPerSecond, g.BytesPerRecord)
	check(g.Calls["issue"] > 0 && g.Calls["verify"] > g.Calls["issue"] && g.Calls["revoke"] > 0 && g.Calls["denied"] > 0 && g.Calls["rotate"] == 3, "generation: calls %v", g.Calls)
	s := g.Sample
	check(s.MidJTI != "" && s.MidRequestID != "" && s.MidSub != "" && len(s.KIDs) == 4 && s.Start.Before(s.End), "generation: sample %+v", s)

	q := rep.Query
	if q == nil {
		t.Fatal("no query table in the report")
	}
	check(q.Records == g.Records, "query: %d records, generated %d", q.Records, g.Records)
	check(!q.CachesDropped, "query: caches dropped although -drop-caches=false")
	colds, _ := os.ReadFile(filepath.Join(dir, "cold.log"))
	check(q.ColdCommand != "" && strings.Count(string(colds), "cold\n") == len(q.Rows), "query: -cold-command %q ran %d times, want once per cold run (%d)", q.ColdCommand, strings.Count(string(colds), "cold\n"), len(q.Rows))
	cases := queryCases(s)
	check(len(q.Rows) == 2*len(cases), "query: %d rows, want %d (every case in both orders)", len(q.Rows), 2*len(cases))
	for _, r := range q.Rows {
		want := map[string]bool{"page": r.Matches == r.Limit, "some": r.Matches >= 1, "one": r.Matches == 1, "none": r.Matches == 0}[r.Expect]
		check(want, "query %q %s: %d records on the first page, want %s", r.Case, r.Order, r.Matches, r.Expect)
		check(r.Runs >= 3 && r.P50ms > 0 && r.P50ms <= r.P99ms && r.ColdMs > 0 && r.ColdOpenMs > 0, "query %q %s: %+v", r.Case, r.Order, r)
	}
	check(len(q.Counts) == 3, "counts: %d windows", len(q.Counts))
	for _, c := range q.Counts {
		check(c.Runs == 3 && c.P50ms > 0 && c.P50ms <= c.P99ms && c.Records+c.Pending > 0, "counts: %+v", c)
	}

	v := rep.Verify
	if v == nil {
		t.Fatal("no verification in the report")
	}
	check(v.OK && v.Records == g.Records && v.RecordsPerSecond > 0 && v.Cores > 0 && v.PeakRSS > 0, "verify: %+v", v)

	f := rep.Flat
	if f == nil {
		t.Fatal("no flat-cost table in the report")
	}
	check(len(f.Runs) == 2*2*2 && len(f.Summary) == 2 && f.BigRecords >= g.Records, "flat: %d runs, %d summaries, big ledger of %d records", len(f.Runs), len(f.Summary), f.BigRecords)
	for _, r := range f.Runs {
		check(r.PerSecond > 0 && r.P50us > 0 && r.P50us <= r.P99us && r.PeakRSS > 0 && r.CheckpointP50ms > 0, "flat run: %+v", r)
		check((r.Ledger == "big") == (r.RecordsBefore >= g.Records), "flat run %d %s on the %s ledger had %d records", r.Round, r.Alg, r.Ledger, r.RecordsBefore)
	}
	for _, sum := range f.Summary {
		for _, x := range []float64{sum.RatioPerSecond, sum.RatioP99, sum.RatioPeakRSS, sum.RatioCheckpoint} {
			check(x > 0 && !math.IsInf(x, 0) && !math.IsNaN(x), "flat summary: %+v", sum)
		}
	}

	// The Markdown form has a row per query and flat run.
	var md bytes.Buffer
	printReport(&md, &rep)
	rows := 0
	for _, line := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| filter") && !strings.HasPrefix(line, "| window") && !strings.HasPrefix(line, "| alg") && !strings.HasPrefix(line, "| round") {
			rows++
		}
	}
	if want := len(q.Rows) + len(q.Counts) + len(f.Summary) + len(f.Runs); rows != want {
		t.Errorf("the Markdown report has %d table rows, want %d:\n%s", rows, want, md.String())
	}
}
