//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

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
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
