//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

var _ store.CountKeeper = (*DB)(nil)

// Counts answers q from the aggregate tables, counting first what is new
// (see [store.Counter]).
func (db *DB) Counts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error) {
	return db.counter.Counts(ctx, q, func(int) string { return "?" }, func(ctx context.Context, query string, args []any, fn func(func(...any) error) error) error {
		rows, err := db.r.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// CountedUpTo returns how far each chain's records are counted.
func (db *DB) CountedUpTo(ctx context.Context) (map[string]int64, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT chain, seq FROM audit_counted")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read count marks: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var c string
		var seq int64
		if err := rows.Scan(&c, &seq); err != nil {
			return nil, fmt.Errorf("sqlite: read count marks: %w", err)
		}
		out[c] = seq
	}
	return out, rows.Err()
}

// RecordsAfter calls fn for at most limit records of chain after seq.
func (db *DB) RecordsAfter(ctx context.Context, chain string, after int64, limit int, fn func(seq int64, body []byte) error) error {
	rows, err := db.r.QueryContext(ctx, "SELECT seq, body FROM audit WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?", chain, after, limit)
	if err != nil {
		return fmt.Errorf("sqlite: read records to count: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return fmt.Errorf("sqlite: read records to count: %w", err)
		}
		if len(body) == 0 {
			body = nil
		}
		if err := fn(seq, body); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AddCounts adds t and moves chain's mark from from to to, in one
// transaction, if the mark is still at from.
func (db *DB) AddCounts(ctx context.Context, chain string, from, to int64, t *store.Tally) (bool, error) {
	moved := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_counted (chain, seq) VALUES (?, ?)
			ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq WHERE audit_counted.seq = ?`, chain, to, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		moved = true
		exec := func(query string, each func(st *sql.Stmt) error) error {
			st, err := tx.PrepareContext(ctx, query)
			if err != nil {
				return err
			}
			defer st.Close()
			return each(st)
		}
		if err := exec(`INSERT INTO audit_minutes (minute, chain, event, outcome, n) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET n = n + excluded.n`, func(st *sql.Stmt) error {
			for k, n := range t.Minutes {
				if _, err := st.ExecContext(ctx, k.Minute, chain, k.Event, k.Outcome, n); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if err := exec(`INSERT INTO audit_hours (hour, chain, event, outcome, actor, n) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET n = n + excluded.n`, func(st *sql.Stmt) error {
			for k, n := range t.Hours {
				if _, err := st.ExecContext(ctx, k.Hour, chain, k.Event, k.Outcome, k.Actor, n); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		return exec(`INSERT INTO audit_subjects (hour, chain, sub, n) VALUES (?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET n = n + excluded.n`, func(st *sql.Stmt) error {
			for k, n := range t.Subjects {
				if _, err := st.ExecContext(ctx, k.Hour, chain, k.Sub, n); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: add counts: %w", err)
	}
	return moved, nil
}
