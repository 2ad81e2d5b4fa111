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

// A time-range query answers exactly whichever plan its range's size
// picks: every range read by time (a large threshold), none (0: the
// planner's choice throughout), and a threshold between the ranges'
// sizes, with the index on and off.
func TestTimeRangesEveryPlan(t *testing.T) {
	dsn := pgtest.Database(t)
	for _, index := range []bool{true, false} {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{AuditIndex: index})
		if err != nil {
			t.Fatal(err)
		}
		if index {
			storetest.AppendOutOfOrder(t, db)
		}
		for _, small := range []int{1 << 30, 0, 1, 12, 40} {
			was := postgres.SetSmallRange(small)
			storetest.CheckOutOfOrderRanges(t, db)
			postgres.SetSmallRange(was)
		}
		db.Close()
	}
}

// The statements of a small time range read the time index (the range's
// count too), never the id index the planner would otherwise walk, nor
// the whole table. (With an indexed filter the join's order follows the
// statistics of audit_index, which a small table does not have: its
// plans are checked at scale, see docs/performance.md.)
func TestTimeRangePlans(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.AppendOutOfOrder(t, db)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE; SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range []audit.Filter{
		{Since: at, Until: at.Add(time.Hour), Limit: 100},
		{Since: at, Until: at.Add(time.Hour), Limit: 51, Newest: true},
		{Since: at, Limit: 100},
		{Until: at, Limit: 51, Newest: true},
		{Since: at, Until: at.Add(time.Hour), Chain: "a", Before: 5000, Limit: 50, Newest: true},
	} {
		stmts := postgres.Dialect.RangeStatements(f)
		if len(stmts) != 3 {
			t.Fatalf("filter %+v: %d statements, want the page's end, the count and the scan", f, len(stmts))
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
			switch i {
			case 0: // the page's end: one end of the id index
				bad = bad || !strings.Contains(text, "_id_idx")
			case 1:
				bad = bad || !strings.Contains(text, "_time_idx")
			case 2:
				bad = bad || strings.Contains(text, "_id_idx")
			}
			if bad {
				t.Errorf("filter %+v:\n%s\nplan:\n%s", f, st.SQL, text)
			}
		}
	}
}
