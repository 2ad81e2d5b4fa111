package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

var _ store.CountKeeper = (*DB)(nil)

// Counts answers q from the aggregate tables, counting first what is new
// (see [store.Counter]).
func (db *DB) Counts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error) {
	return db.counter.Counts(ctx, q, func(n int) string { return "$" + strconv.Itoa(n) }, func(ctx context.Context, query string, args []any, fn func(func(...any) error) error) error {
		rows, err := db.pool.Query(ctx, query, args...)
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
	rows, err := db.pool.Query(ctx, "SELECT chain, seq FROM audit_counted")
	if err != nil {
		return nil, fmt.Errorf("postgres: read count marks: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var c string
		var seq int64
		if err := rows.Scan(&c, &seq); err != nil {
			return nil, fmt.Errorf("postgres: read count marks: %w", err)
		}
		out[c] = seq
	}
	return out, rows.Err()
}

// RecordsAfter calls fn for at most limit records of chain after seq.
func (db *DB) RecordsAfter(ctx context.Context, chain string, after int64, limit int, fn func(seq int64, body []byte) error) error {
	rows, err := db.pool.Query(ctx, "SELECT seq, body FROM audit WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3", chain, after, limit)
	if err != nil {
		return fmt.Errorf("postgres: read records to count: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return fmt.Errorf("postgres: read records to count: %w", err)
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
// transaction, if the mark is still at from (a node counting the same run
// at the same time waits for this one's row lock, then finds the mark
// moved).
func (db *DB) AddCounts(ctx context.Context, chain string, from, to int64, t *store.Tally) (bool, error) {
	moved := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO audit_counted (chain, seq) VALUES ($1, $2)
			ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq WHERE audit_counted.seq = $3`, chain, to, from)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		moved = true
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
