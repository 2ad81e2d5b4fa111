//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
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

// ScanChainRange reads a range in rowid order when the chain's rows are
// in seq order there, and otherwise (rows moved, reversed, a gap) reads
// what rowid order does not give through the (chain, seq) index: either
// way it gives the rows of the index query, in seq order.
func TestScanChainRangeLayouts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		change   []string // SQL run on the store after the appends
		fallback bool     // the whole chain is not read in rowid order alone
	}{
		{name: "appended"},
		{name: "pruned", change: []string{"UPDATE audit SET body = x'' WHERE chain = 'a' AND seq IN (10, 11, 300)"}},
		{name: "moved", change: []string{"UPDATE audit SET id = id + 1000000 WHERE chain = 'a' AND seq BETWEEN 120 AND 130"}, fallback: true},
		{name: "moved first", change: []string{"UPDATE audit SET id = id + 1000000 WHERE chain = 'a' AND seq = 1"}, fallback: true},
		{name: "reversed", change: []string{"UPDATE audit SET id = -id WHERE chain = 'a'"}, fallback: true},
		{name: "gap", change: []string{"DELETE FROM audit WHERE chain = 'a' AND seq = 150"}, fallback: true},
		{name: "other chain in order", change: []string{"UPDATE audit SET id = -id WHERE chain = 'b'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			db, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
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
			sqlite.ScanBySeqOnly(ref)
			sqlite.CountScans(db)
			all := scanRange(t, ref, "a", math.MinInt64, math.MaxInt64)
			if len(all) < 299 {
				t.Fatalf("the index query gave %d rows", len(all))
			}
			if got := scanRange(t, db, "a", math.MinInt64, math.MaxInt64); !slices.Equal(got, all) {
				t.Errorf("the whole chain: %d rows, the index query %d", len(got), len(all))
			}
			byID, bySeq := sqlite.CountScans(db)
			if byID != 1 || (bySeq > 0) != tc.fallback {
				t.Errorf("the whole chain: %d ranges read by rowid, %d by seq; want 1, and by seq %v", byID, bySeq, tc.fallback)
			}
			for _, r := range [][2]int64{{math.MinInt64, 1}, {math.MinInt64, 2}, {1, 2}, {2, 100}, {64, 200}, {99, 102}, {119, 131}, {149, 152}, {300, math.MaxInt64}, {301, math.MaxInt64}, {400, 500}} {
				var want []scannedRow
				for _, x := range all {
					if x.seq >= r[0] && x.seq < r[1] {
						want = append(want, x)
					}
				}
				if got := scanRange(t, db, "a", r[0], r[1]); !slices.Equal(got, want) {
					t.Errorf("ScanChainRange(a, %d, %d) gave %d rows, the index query %d", r[0], r[1], len(got), len(want))
				}
			}
			// The pruned rows come without a body.
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

// The rowid-order read walks the table by rowid range, not the (chain,
// seq) index; the fallback reads through the index.
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
		{sqlite.RowsByID, "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
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
