//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// Every filter of a query is answered from audit_index: the index query
// searches its primary key and reads the records by rowid, in id order
// without a sort, and the records past the mark are read through the
// (chain, seq) index; neither scans the audit table.
func TestQueryPlansUseTheIndex(t *testing.T) {
	ctx := context.Background()
	db, path := openIndexed(t)
	recs := make([]*audit.Record, 100)
	for i := range recs {
		recs[i] = storetest.BenchRecord()
	}
	if err := db.Append(ctx, "n", recs); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec("ATTACH DATABASE ? AS idx", sqlite.IndexPath(path)); err != nil {
		t.Fatal(err)
	}
	for _, f := range storetest.PlanFilters() {
		stmts := sqlite.Dialect.QueryStatements(f, "n", 50)
		if len(stmts) != 2 {
			t.Fatalf("filter %+v: %d statements, want the index query and the tail", f, len(stmts))
		}
		for i, st := range stmts {
			rows, err := raw.QueryContext(ctx, "EXPLAIN QUERY PLAN "+st.SQL, st.Args...)
			if err != nil {
				t.Fatalf("%s: %v", st.SQL, err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			text := strings.Join(plan, "\n")
			bad := strings.Contains(text, "SCAN ")
			if i == 0 {
				bad = bad || !strings.Contains(text, "SEARCH i0 USING PRIMARY KEY") || !strings.Contains(text, "SEARCH a USING INTEGER PRIMARY KEY") ||
					strings.Contains(text, "TEMP B-TREE")
			} else {
				bad = bad || !strings.Contains(text, "USING INDEX sqlite_autoindex_audit_1 (chain=? AND seq>?)")
			}
			if bad {
				t.Errorf("filter %+v:\n%s\nplan:\n%s", f, st.SQL, text)
			}
		}
	}
}

// A query of the run-major index reads several runs a statement: the
// answers are the same whatever the number of runs a statement searches
// (one, two, the default), in both orders, with cursors, and match what
// the index-off scan finds.
func TestIndexQueriesAcrossRuns(t *testing.T) {
	ctx := context.Background()
	db, path := openIndexed(t)
	// Five runs of 4,096 records and a bit: "rare" only in runs 0 and 3,
	// "odd" in every run, sparse; "none" nowhere.
	const n = 5*4096 + 300
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var batch []*audit.Record
	for i := range n {
		sub := "common-" + strconv.Itoa(i%7)
		switch {
		case (i/4096 == 0 || i/4096 == 3) && i%1000 == 17:
			sub = "rare"
		case i%997 == 5:
			sub = "odd"
		}
		batch = append(batch, &audit.Record{Time: at.Add(time.Duration(i) * time.Millisecond), Event: audit.TokenIssue,
			Outcome: audit.OK, Actor: "c", Sub: sub, JTI: "j" + strconv.Itoa(i), Alg: "ES256"})
		if len(batch) == 512 || i == n-1 {
			if err := db.Append(ctx, "n", batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	if _, err := db.CatchUpIndex(ctx, -1); err != nil {
		t.Fatal(err)
	}
	off, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	ids := func(rs []*audit.Record) []int64 {
		out := make([]int64, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	var filters []audit.Filter
	for _, sub := range []string{"rare", "odd", "none", "common-3"} {
		for _, limit := range []int{0, 3, 25} {
			filters = append(filters,
				audit.Filter{Sub: sub, Limit: limit},
				audit.Filter{Sub: sub, Limit: limit, Newest: true},
				audit.Filter{Sub: sub, Limit: limit, After: 9000},
				audit.Filter{Sub: sub, Limit: limit, Before: 16000, Newest: true},
				audit.Filter{Sub: sub, Limit: limit, After: 4000, Before: 17000})
		}
	}
	for _, f := range filters {
		want, err := off.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if f.Sub == "rare" && f.Limit == 0 && f.After == 0 && f.Before == 0 && len(want) != 9 {
			t.Fatalf("the ledger holds %d rare records, want 9", len(want))
		}
		for _, chunk := range []int{1, 2, 0} {
			was := sqlite.SetIndexRunChunk(chunk)
			got, err := db.Query(ctx, f)
			sqlite.SetIndexRunChunk(was)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("filter %+v, %d runs a query: ids %v, the scan finds %v", f, chunk, ids(got), ids(want))
			}
		}
	}
}

// openIndexed opens a new store with the audit index on, closed when the
// test ends, and returns it with its path.
func openIndexed(t *testing.T) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{AuditIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// A time range's ids bound its query (for a query of the audit index, when
// the range holds at most timeSpanMost records; 0: never): the answers are
// the same whatever the setting, with the index on and off, and the
// bounded query walks the rowids between the bounds after an index-only
// read of audit_time.
func TestTimeRangeSpans(t *testing.T) {
	ctx := context.Background()
	db, path := openIndexed(t)
	start := storetest.TimeRangeLedger(t, db)
	off, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	for _, most := range []int{0, 50, 1 << 20} {
		was := sqlite.SetTimeSpanMost(most)
		t.Run("most="+strconv.Itoa(most), func(t *testing.T) {
			storetest.CheckTimeRanges(t, db, start)
			storetest.CheckTimeRanges(t, off, start)
		})
		sqlite.SetTimeSpanMost(was)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, f := range []audit.Filter{
		{Since: start, Until: start.Add(time.Minute), After: 10, Before: 300, Limit: 51, Newest: true},
		{Since: start, After: 10, Before: 300, Limit: 100},
		{Until: start, Sub: "u1", Chain: "a", After: 10, Before: 300, Limit: 100, Newest: true},
	} {
		stmts := sqlite.Dialect.TimeSpanStatements(f)
		for i, want := range []string{"SEARCH audit USING COVERING INDEX audit_time", "SEARCH audit USING COVERING INDEX audit_time", "SEARCH audit USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"} {
			rows, err := raw.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmts[i].SQL, stmts[i].Args...)
			if err != nil {
				t.Fatalf("%s: %v", stmts[i].SQL, err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, want) || strings.Contains(text, "TEMP B-TREE") || strings.Contains(text, "SCAN audit") {
				t.Errorf("filter %+v:\n%s\nplan:\n%s\nwant %q", f, stmts[i].SQL, text, want)
			}
		}
	}
}
