//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

type scannedRow struct {
	seq        int64
	body, leaf string
	pruned     bool
}

func scanRange(t *testing.T, db *sqlite.DB, chain string, from, to int64) []scannedRow {
	t.Helper()
	var got []scannedRow
	if err := db.ScanChainRange(context.Background(), chain, from, to, func(seq int64, body, leaf []byte) error {
		got = append(got, scannedRow{seq, string(body), string(leaf), body == nil})
		return nil
	}); err != nil {
		t.Fatalf("ScanChainRange(%s, %d, %d): %v", chain, from, to, err)
	}
	return got
}

// ScanChainRange, on its own connection, many rows per call into SQLite,
// gives what the driver's rows of the shared query give, whatever the
// layout of the rows (chains interleaved, rowids out of seq order, a gap,
// pruned records, a body larger than its buffer).
func TestScanChainRangeSameAsDriver(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change []string // SQL run on the store after the appends
	}{
		{name: "appended"},
		{name: "pruned", change: []string{"UPDATE audit SET body = x'' WHERE chain = 'a' AND seq IN (10, 11, 300)"}},
		{name: "moved", change: []string{"UPDATE audit SET id = id + 1000000 WHERE chain = 'a' AND seq BETWEEN 120 AND 130"}},
		{name: "reversed", change: []string{"UPDATE audit SET id = -id WHERE chain = 'a'"}},
		{name: "gap", change: []string{"DELETE FROM audit WHERE chain = 'a' AND seq = 150"}},
		{name: "large bodies", change: []string{"UPDATE audit SET body = randomblob(700000) WHERE chain = 'a' AND seq IN (1, 99, 100, 101)"}},
		{name: "empty leaf", change: []string{"UPDATE audit SET leaf = x'' WHERE chain = 'a' AND seq = 7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			db, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if !sqlite.ScansOnOwnConn(db) {
				t.Fatal("ScanChainRange does not read on a connection of its own")
			}
			// Two chains, their appends interleaved in rowid order.
			for _, n := range []int{100, 1, 64, 135} {
				for _, chain := range []string{"a", "b"} {
					recs := make([]*audit.Record, n)
					for i := range recs {
						recs[i] = storetest.BenchRecord()
					}
					if err := db.Append(ctx, chain, recs); err != nil {
						t.Fatal(err)
					}
				}
			}
			raw, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, q := range tc.change {
				if _, err := raw.Exec(q); err != nil {
					t.Fatal(q, err)
				}
			}
			ref, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			sqlite.ScanByDriver(ref)
			all := scanRange(t, ref, "a", math.MinInt64, math.MaxInt64)
			if len(all) < 299 {
				t.Fatalf("the driver gave %d rows", len(all))
			}
			for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {math.MinInt64, 1}, {math.MinInt64, 2}, {1, 2}, {2, 100}, {64, 200}, {99, 102}, {119, 131}, {149, 152}, {300, math.MaxInt64}, {301, math.MaxInt64}, {400, 500}} {
				var want []scannedRow
				for _, x := range all {
					if x.seq >= r[0] && x.seq < r[1] {
						want = append(want, x)
					}
				}
				if got := scanRange(t, db, "a", r[0], r[1]); !slices.Equal(got, want) {
					t.Errorf("ScanChainRange(a, %d, %d) gave %d rows, the driver %d", r[0], r[1], len(got), len(want))
				}
			}
			if tc.name == "pruned" {
				for _, x := range all {
					if x.pruned != slices.Contains([]int64{10, 11, 300}, x.seq) {
						t.Errorf("record %d: pruned %v", x.seq, x.pruned)
					}
				}
			}
		})
	}
}

// A read stops at fn's error, which it returns as it is.
func TestScanChainRangeStopsAtError(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs := make([]*audit.Record, 1000)
	for i := range recs {
		recs[i] = storetest.BenchRecord()
	}
	if err := db.Append(ctx, "a", recs); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	for _, at := range []int64{1, 500, 1000} {
		var n int64
		err := db.ScanChainRange(ctx, "a", math.MinInt64, math.MaxInt64, func(seq int64, body, leaf []byte) error {
			n++
			if seq == at {
				return stop
			}
			return nil
		})
		if err != stop || n != at {
			t.Errorf("stop at %d: %v after %d rows", at, err, n)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.ScanChainRange(cctx, "a", 1, 2, func(int64, []byte, []byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// The scan walks the (chain, seq) index, without a sort.
func TestScanQueryPlans(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, tc := range []struct{ query, want string }{
		{sqlite.RowsBySeq, "USING INDEX sqlite_autoindex_audit_1 (chain=? AND seq>? AND seq<?)"},
	} {
		rows, err := raw.Query("EXPLAIN QUERY PLAN "+tc.query, "a", 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want %q without a sort", tc.query, p, tc.want)
		}
	}
}
