package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// AddCounts adds t and moves chain's mark from from to to, in one
// transaction, if the mark is still at from (a node counting the same run
// at the same time waits for this one's row lock, then finds the mark
// moved).
func (db *DB) AddCounts(ctx context.Context, chain string, from, to int64, t *tables.Tally) (bool, error) {
	moved := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if moved, err = dialect.MoveCountMark(ctx, conn{tx}, chain, from, to); err != nil || !moved {
			return err
		}
		var mins, hours, subHours []int64
		var mEv, mOut, hEv, hOut, hAct, subs []string
		var mN, hN, sN []int64
		for k, n := range t.Minutes {
			mins, mEv, mOut, mN = append(mins, k.Minute), append(mEv, k.Event), append(mOut, k.Outcome), append(mN, n)
		}
		for k, n := range t.Hours {
			hours, hEv, hOut, hAct, hN = append(hours, k.Hour), append(hEv, k.Event), append(hOut, k.Outcome), append(hAct, k.Actor), append(hN, n)
		}
		for k, n := range t.Subjects {
			subHours, subs, sN = append(subHours, k.Hour), append(subs, k.Sub), append(sN, n)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_minutes (minute, chain, event, outcome, n)
			SELECT m, $1, e, o, n FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[]) AS u(m, e, o, n)
			ON CONFLICT (minute, chain, event, outcome) DO UPDATE SET n = audit_minutes.n + excluded.n`, chain, mins, mEv, mOut, mN); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_hours (hour, chain, event, outcome, actor, n)
			SELECT h, $1, e, o, a, n FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(h, e, o, a, n)
			ON CONFLICT (hour, chain, event, outcome, actor) DO UPDATE SET n = audit_hours.n + excluded.n`, chain, hours, hEv, hOut, hAct, hN); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_subjects (hour, chain, sub, n)
			SELECT h, $1, s, n FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS u(h, s, n)
			ON CONFLICT (hour, chain, sub) DO UPDATE SET n = audit_subjects.n + excluded.n`, chain, subHours, subs, sN)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: add counts: %w", err)
	}
	return moved, nil
}
