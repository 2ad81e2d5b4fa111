package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/service"
)

// indexLag is how many records the store's query index has not indexed
// yet, from its per-chain marks (the audit_indexed table of the schema
// that has the index, issue 13; on SQLite in the index file next to the
// database); ok is false for a store without one.
func indexLag(ctx context.Context, o ledger, l *jwtledger.Ledger) (lag int64, ok bool, err error) {
	marks := map[string]int64{}
	if o.postgres() {
		c, err := pgx.Connect(ctx, o.store)
		if err != nil {
			return 0, false, err
		}
		defer c.Close(ctx)
		if err := c.QueryRow(ctx, "SELECT to_regclass('audit_indexed') IS NOT NULL").Scan(&ok); err != nil || !ok {
			return 0, false, err
		}
		rows, err := c.Query(ctx, "SELECT chain, seq FROM audit_indexed")
		if err != nil {
			return 0, false, err
		}
		for rows.Next() {
			var chain string
			var seq int64
			if err := rows.Scan(&chain, &seq); err != nil {
				return 0, false, err
			}
			marks[chain] = seq
		}
		if err := rows.Err(); err != nil {
			return 0, false, err
		}
	} else {
		// The index file next to the database (store/sqlite: PATH-index).
		if _, err := os.Stat(o.sqlitePath() + "-index"); err != nil {
			return 0, false, nil
		}
		db, err := sql.Open("sqlite3", "file:"+o.sqlitePath()+"-index?mode=ro")
		if err != nil {
			return 0, false, err
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 'audit_indexed'").Scan(&n); err != nil || n == 0 {
			return 0, false, err
		}
		rows, err := db.QueryContext(ctx, "SELECT chain, seq FROM audit_indexed")
		if err != nil {
			return 0, false, err
		}
		defer rows.Close()
		for rows.Next() {
			var chain string
			var seq int64
			if err := rows.Scan(&chain, &seq); err != nil {
				return 0, false, err
			}
			marks[chain] = seq
		}
		if err := rows.Err(); err != nil {
			return 0, false, err
		}
	}
	cs, err := service.Of(l).AuditChains(ctx)
	if err != nil {
		return 0, false, err
	}
	for _, c := range cs {
		lag += max(0, c.Records-marks[c.Chain])
	}
	return lag, true, nil
}

// waitIndex waits (at most 30 minutes) until the open ledger l has
// indexed every record, and says how many it had not at first and how
// long catching up took; nothing for a store without the index, or with
// it off (Config.AuditIndex: opt-in, and off in this tool's ledgers, so
// that the append is measured as it runs by default; the PostgreSQL
// tables exist but stay empty, SQLite has no index file).
func waitIndex(ctx context.Context, o ledger, l *jwtledger.Ledger, progress io.Writer) (first int64, took float64, err error) {
	if !o.config().AuditIndex {
		return 0, 0, nil
	}
	began := time.Now()
	for i := 0; ; i++ {
		lag, ok, err := indexLag(ctx, o, l)
		if err != nil || !ok {
			return 0, 0, err
		}
		if i == 0 {
			first = lag
		}
		if lag == 0 {
			return first, time.Since(began).Seconds(), nil
		}
		if i%20 == 0 {
			fmt.Fprintf(progress, "scale: the query index is %d records behind\n", lag)
		}
		if time.Since(began) > 30*time.Minute {
			return first, 0, fmt.Errorf("the query index is still %d records behind after 30 minutes", lag)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(500 * time.Millisecond): // polling the index's marks, moved behind the commits
		}
	}
}
