//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// AddCounts adds t and moves chain's mark from from to to, in one
// transaction, if the mark is still at from.
func (db *DB) AddCounts(ctx context.Context, chain string, from, to int64, t *tables.Tally) (bool, error) {
	moved := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if moved, err = dialect.MoveCountMark(ctx, querier{tx}, chain, from, to); err != nil || !moved {
			return err
		}
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
