package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
	"github.com/jwtledger/jwtledger/store/postgres"
)

func TestConformance(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) storetest.Location {
		dsn := pgtest.Database(t)
		openWith := func(t *testing.T, index bool) store.Store {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{AuditIndex: index})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		open := func(t *testing.T) store.Store { return openWith(t, true) }
		return storetest.Location{
			Open:         open,
			OpenIndexOff: func(t *testing.T) store.Store { return openWith(t, false) },
			IndexRows: func(t *testing.T) int64 {
				return pgtest.QueryInt(t, dsn, "SELECT (SELECT count(*) FROM audit_index) + (SELECT count(*) FROM audit_indexed)")
			},
			OpenIdle: func(t *testing.T) store.Store {
				defer postgres.SetIndexer(postgres.SetIndexer(false))
				return open(t)
			},
			RewindIndex: func(t *testing.T, chain string, seq int64) {
				pgtest.Exec(t, dsn, "DELETE FROM audit_index WHERE id IN (SELECT id FROM audit WHERE chain = $1 AND seq > $2)", chain, seq)
				pgtest.Exec(t, dsn, "UPDATE audit_indexed SET seq = $1 WHERE chain = $2", seq, chain)
			},
			ForgeIndexEntry: func(t *testing.T, chain string, seq int64, member string, value ...string) {
				pgtest.Exec(t, dsn, "INSERT INTO audit_index (key, id) SELECT $1, id FROM audit WHERE chain = $2 AND seq = $3", tables.IndexKey(member, value...), chain, seq)
			},
			DeleteRecord: func(t *testing.T, chain string, seq int64) {
				pgtest.Exec(t, dsn, "DELETE FROM audit WHERE chain = $1 AND seq = $2", chain, seq)
			},
			TreeRows: func(t *testing.T, chain string) []int64 {
				return pgtest.QueryInts(t, dsn, "SELECT idx FROM tree_hashes WHERE chain = $1", chain)
			},
			PutTreeHashes: func(t *testing.T, chain string, idxs []int64, hash []byte) {
				pgtest.Exec(t, dsn, "INSERT INTO tree_hashes (chain, idx, hash) SELECT $1, unnest($2::bigint[]), $3 ON CONFLICT (chain, idx) DO UPDATE SET hash = excluded.hash", chain, idxs, hash)
			},
			DropCounts: func(t *testing.T) { // back to schema 1
				pgtest.Exec(t, dsn, "DROP TABLE audit_index, audit_indexed, checkpoint_cosignatures, witness_state, audit_counted, audit_minutes, audit_hours, audit_subjects; UPDATE schema_version SET version = 1")
			},
		}
	}})
}

// The audit table is partitioned by month: a record lands in its month's
// partition, made ahead of time, and a query by time range reads only the
// partitions of that range.
func TestAuditPartitionedByMonth(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	next := time.Date(now.Year(), now.Month()+1, 15, 0, 0, 0, 0, time.UTC)
	if err := db.Append(ctx, "n", []*audit.Record{{Time: now, Event: audit.TokenIssue, Outcome: audit.OK}, {Time: next, Event: audit.TokenIssue, Outcome: audit.OK}}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT tableoid::regclass::text FROM audit ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("audit_%04d_%02d", now.Year(), int(now.Month())), fmt.Sprintf("audit_%04d_%02d", next.Year(), int(next.Month()))}
	if !slices.Equal(parts, want) {
		t.Fatalf("records are in partitions %v, want %v", parts, want)
	}
	var plan strings.Builder
	rows, err = conn.Query(ctx, "EXPLAIN SELECT id, body FROM audit WHERE time >= $1 AND time < $2", now.Add(-time.Minute).UnixNano(), now.Add(time.Minute).UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		plan.WriteString(l + "\n")
	}
	if !strings.Contains(plan.String(), want[0]) || strings.Contains(plan.String(), want[1]) || strings.Contains(plan.String(), "audit_default") {
		t.Fatalf("a query of one month reads other partitions:\n%s", plan.String())
	}
	// Maintain is idempotent.
	if err := db.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
}
