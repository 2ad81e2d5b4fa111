package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store/postgres"
)

// Every filter of a query has a plan without a sequential scan of audit or
// audit_index (with sequential scans priced out, as a large table prices
// them): the index query reads audit_index by its primary key and the
// records by id, the tail reads a chain's records by (chain, seq).
func TestQueryPlansUseTheIndex(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	db, err := postgres.Open(ctx, dsn, postgres.Options{AuditIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs := make([]*audit.Record, 100)
	for i := range recs {
		recs[i] = storetest.BenchRecord()
		recs[i].Time = time.Now()
	}
	if err := db.Append(ctx, "n", recs); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE; SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for _, f := range storetest.PlanFilters() {
		stmts := postgres.Dialect.QueryStatements(f, "n", 50)
		if len(stmts) != 2 {
			t.Fatalf("filter %+v: %d statements, want the index query and the tail", f, len(stmts))
		}
		for i, st := range stmts {
			rows, err := conn.Query(ctx, "EXPLAIN "+st.SQL, st.Args...)
			if err != nil {
				t.Fatalf("%s: %v", st.SQL, err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(lines, "\n")
			bad := strings.Contains(text, "Seq Scan")
			if i == 0 {
				bad = bad || !strings.Contains(text, "audit_index_pkey")
			} else {
				bad = bad || !strings.Contains(text, "chain_seq")
			}
			if bad {
				t.Errorf("filter %+v:\n%s\nplan:\n%s", f, st.SQL, text)
			}
		}
	}
}

// The single-column filter indexes of the audit table stay, whether the
// audit index is on or off: with it off, queries use them as before.
func TestFilterIndexesKept(t *testing.T) {
	dsn := pgtest.Database(t)
	for _, on := range []bool{false, true} {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{AuditIndex: on})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		for _, name := range []string{"audit_jti", "audit_sub", "audit_event"} {
			if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = $1", name); n != 1 {
				t.Errorf("index on %v: %s is missing", on, name)
			}
		}
	}
}
