package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// printReport writes the report as the Markdown tables of
// docs/performance.md.
func printReport(w io.Writer, r *report) {
	m := r.Machine
	fmt.Fprintf(w, "%s, %d CPUs, %s, commit %s, %s store\n\n", m.Date, m.CPUs, m.Go, m.Commit, m.Backend)
	if g := r.Gen; g != nil {
		fmt.Fprintf(w, "Generated %d records (%d in the ledger) in %.0f s: %.0f records/s, %.0f records per commit (stopped: %s); store %.2f GB, %.0f bytes per record.\n",
			g.Added, g.Records, g.Seconds, g.RecordsPerSecond, g.RecordsPerCommit, g.Stopped, float64(g.StoreBytes)/1e9, g.BytesPerRecord)
		var calls []string
		for _, k := range callKinds {
			calls = append(calls, fmt.Sprintf("%s %d", k, g.Calls[k]))
		}
		fmt.Fprintf(w, "Calls: %s.\n\n", strings.Join(calls, ", "))
	}
	if q := r.Query; q != nil && len(q.Rows) > 0 {
		cold := "fresh process, page cache dropped"
		if !q.CachesDropped {
			cold = "fresh process, page cache NOT dropped"
		}
		if q.ColdCommand != "" {
			cold += ", after `" + q.ColdCommand + "`"
		}
		fmt.Fprintf(w, "First page of each filter, %d records (ms; warm: p50/p99 of the runs after one unmeasured; cold: %s, query after Open):\n\n", q.Records, cold)
		if q.IndexPending > 0 {
			fmt.Fprintf(w, "The query index was %d records behind at open and caught up in %.0f s; measured after.\n\n", q.IndexPending, q.IndexCatchUp)
		}
		fmt.Fprintln(w, "| filter | page | records | warm p50 | warm p99 | runs | cold | cold open |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, row := range q.Rows {
			fmt.Fprintf(w, "| %s | %s %d | %d | %s | %s | %d | %s | %s |\n", row.Case, row.Order, row.Limit, row.Matches, num(row.P50ms), num(row.P99ms), row.Runs, coldOf(row), num(row.ColdOpenMs))
		}
		fmt.Fprintln(w)
	}
	if q := r.Query; q != nil {
		fmt.Fprintf(w, "Console overview counts, %d records (warm, ms; %d records were not counted yet at the first call, counted in %.1f s of calls before these):\n", q.Records, q.CountsPending, q.CountsCatchUp)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| window | p50 | p99 | runs | records counted | pending |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
		for _, c := range q.Counts {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d |\n", c.Window, num(c.P50ms), num(c.P99ms), c.Runs, c.Records, c.Pending)
		}
		fmt.Fprintln(w)
	}
	if v := r.Verify; v != nil {
		if c := v.Cold; c != nil {
			fmt.Fprintf(w, "audit verify, page cache dropped: %d records in %.1f s, %.0f records/s, %.2f cores, peak RSS %.0f MiB, ok %v.\n",
				c.Records, c.Seconds, c.RecordsPerSecond, c.Cores, float64(c.PeakRSS)/(1<<20), c.OK)
		}
		fmt.Fprintf(w, "audit verify, page cache warm: %d records in %.1f s, %.0f records/s, %.2f cores, peak RSS %.0f MiB, ok %v.\n\n",
			v.Records, v.Seconds, v.RecordsPerSecond, v.Cores, float64(v.PeakRSS)/(1<<20), v.OK)
	}
	if f := r.Flat; f != nil {
		fmt.Fprintf(w, "Audited issue, %d callers, %.0f s per run, big ledger %d records vs fresh ones; medians, and the median of the rounds' paired ratios big/fresh:\n\n", f.Callers, f.Seconds, f.BigRecords)
		fmt.Fprintln(w, "| alg | issue/s fresh | big | ratio | p99 µs fresh | big | ratio | peak RSS MiB fresh | big | ratio | checkpoint p50 ms fresh | big | ratio |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, s := range f.Summary {
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.3f | %.0f | %.0f | %.3f | %.0f | %.0f | %.3f | %.2f | %.2f | %.3f |\n", s.Alg,
				s.FreshPerSecond, s.BigPerSecond, s.RatioPerSecond, s.FreshP99us, s.BigP99us, s.RatioP99,
				s.FreshPeakRSS/(1<<20), s.BigPeakRSS/(1<<20), s.RatioPeakRSS, s.FreshCheckpointP50ms, s.BigCheckpointP50ms, s.RatioCheckpoint)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| round | alg | ledger | records before | issue/s | p50 µs | p99 µs | peak RSS MiB | checkpoint p50 ms | p99 ms |")
		fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, s := range f.Runs {
			fmt.Fprintf(w, "| %d | %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n", s.Round, s.Alg, s.Ledger, s.RecordsBefore, s.PerSecond, s.P50us, s.P99us, float64(s.PeakRSS)/(1<<20), s.CheckpointP50ms, s.CheckpointP99ms)
		}
		fmt.Fprintln(w)
	}
}

// coldOf is a row's cold figure, or why there is none.
func coldOf(r queryRow) string {
	if r.ColdSkipped {
		return "≥ warm (not run)"
	}
	return num(r.ColdMs)
}

// num prints a latency in ms with sensible precision ("" when not measured).
func num(v float64) string {
	switch {
	case v == 0:
		return ""
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// printCompare writes the query table of two reports side by side (before
// and after a change), with the ratio after/before of the warm p99.
func printCompare(w io.Writer, before, after *report) {
	fmt.Fprintf(w, "before: %s, commit %s; after: %s, commit %s (ms)\n\n", before.Machine.Date, before.Machine.Commit, after.Machine.Date, after.Machine.Commit)
	fmt.Fprintln(w, "| filter | page | records | before p50 | p99 | cold | after p50 | p99 | cold |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, b := range before.Query.Rows {
		for _, a := range after.Query.Rows {
			if a.Case == b.Case && a.Order == b.Order {
				fmt.Fprintf(w, "| %s | %s %d | %d | %s | %s | %s | %s | %s | %s |\n", b.Case, b.Order, b.Limit, a.Matches,
					num(b.P50ms), num(b.P99ms), coldOf(b), num(a.P50ms), num(a.P99ms), coldOf(a))
			}
		}
	}
	fmt.Fprintln(w)
}

// reportCmd prints saved JSON reports (scale ... -json > FILE): one as
// Markdown, two as a before/after query table.
func reportCmd(args []string, stdout, stderr io.Writer) int {
	var reps []*report
	for _, p := range args {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintf(stderr, "scale: %s: %v\n", p, err)
			return 1
		}
		reps = append(reps, &r)
	}
	switch {
	case len(reps) == 1:
		printReport(stdout, reps[0])
	case len(reps) == 2 && reps[0].Query != nil && reps[1].Query != nil:
		printCompare(stdout, reps[0], reps[1])
	default:
		fmt.Fprintln(stderr, "usage: scale report REPORT.json [AFTER.json] (two: both with a query table)")
		return 2
	}
	return 0
}
