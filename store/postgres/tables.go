package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// The shared reads, embedded in DB under an unexported name.
type reads = tables.Reads

var _ tables.CountKeeper = (*DB)(nil)

// dialect is the PostgreSQL flavour of the shared queries: $n
// placeholders; event, outcome, actor, sub and jti are columns of the
// audit table (indexed: audit_event, audit_sub, audit_jti), kid and
// request_id are read from the body. With the audit index on
// (Options.AuditIndex), the filters are answered from audit_index, kept
// behind the commits, and the records it does not cover yet the same way.
var dialect = &tables.Dialect{
	Name:    "postgres",
	Dollar:  true,
	Columns: []string{"event", "outcome", "actor", "sub", "jti"},
	Member: func(m string) string {
		return "CASE WHEN length(body) > 0 THEN convert_from(body, 'UTF8')::jsonb ->> '" + m + "' END"
	},
	EmptyBlob: "''",
	IsUnique:  isUnique,
	// Its planner walks the id index for a time range in the middle of
	// the ledger (it takes time and id for independent): see
	// store/internal/tables/timerange.go.
	SmallRange: 20000,
	// A time range's ids bounded by those of its records, read from the
	// time index first, as on SQLite (Dialect.TimeSpanMost): at 10 M
	// records a day in the middle of the ledger took 17-25 s without
	// (the planner walks the id index from the page's end), 0.16-0.27 s
	// with.
	TimeSpanMost:    200_000,
	TimePartitioned: true,
	PlanWithValues:  pgx.QueryExecModeExec,
}

// conn runs the shared queries on the pool or a transaction.
type conn struct {
	q interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	}
}

func (c conn) Query(ctx context.Context, query string, args ...any) (tables.Rows, error) {
	rows, err := c.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

// change runs fn, under the advisory lock lock unless it is 0, tells the
// other nodes topic changed and appends recs to chain, in one transaction.
func (db *DB) change(ctx context.Context, lock int64, topic, chain string, recs []*audit.Record, fn func(tx tables.Querier) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if lock != 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lock); err != nil {
				return fmt.Errorf("postgres: lock: %w", err)
			}
		}
		if err := fn(conn{tx}); err != nil {
			return err
		}
		if err := notify(ctx, tx, topic); err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
		return appendTx(ctx, tx, chain, recs)
	})
}

// Prune removes the bodies of chain's records with seq <= upTo and time
// before cut, 1,000 rows a transaction, keeping their leaf hashes.
func (db *DB) Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error) {
	return dialect.Prune(ctx, conn{db.pool}, chain, upTo, cut)
}

// AddKey stores k (see store.Store); key changes are serialized across
// nodes by an advisory lock.
func (db *DB) AddKey(ctx context.Context, k keys.Stored, demote, ifEmpty bool, chain string, recs []*audit.Record) error {
	return db.change(ctx, lockKeys, store.TopicKeys, chain, recs, func(tx tables.Querier) error { return dialect.AddKey(ctx, tx, k, demote, ifEmpty) })
}

// SetKeyState changes the state of key kid.
func (db *DB) SetKeyState(ctx context.Context, kid string, state keys.State, at time.Time, chain string, recs []*audit.Record) error {
	return db.change(ctx, 0, store.TopicKeys, chain, recs, func(tx tables.Querier) error { return dialect.SetKeyState(ctx, tx, kid, state, at) })
}

// PromoteKey makes the pre-published key kid the active one; exactly one
// node succeeds, the others get store.ErrNotFound.
func (db *DB) PromoteKey(ctx context.Context, kid string, at time.Time, chain string, recs []*audit.Record) error {
	return db.change(ctx, lockKeys, store.TopicKeys, chain, recs, func(tx tables.Querier) error { return dialect.PromoteKey(ctx, tx, kid, at) })
}

// Revoke records the revocation of (iss, jti).
func (db *DB) Revoke(ctx context.Context, iss, jti string, exp, at time.Time, chain string, recs []*audit.Record) (already bool, err error) {
	err = db.change(ctx, 0, store.TopicRevocations, chain, recs, func(tx tables.Querier) error {
		already, err = dialect.Revoke(ctx, tx, iss, jti, exp, at)
		return err
	})
	return already, err
}

// AddClient stores c.
func (db *DB) AddClient(ctx context.Context, c store.ClientRow, chain string, recs []*audit.Record) error {
	return db.change(ctx, 0, store.TopicClients, chain, recs, func(tx tables.Querier) error { return dialect.AddClient(ctx, tx, c) })
}

// DeleteClient removes client id.
func (db *DB) DeleteClient(ctx context.Context, id string, chain string, recs []*audit.Record) error {
	return db.change(ctx, 0, store.TopicClients, chain, recs, func(tx tables.Querier) error { return dialect.DeleteClient(ctx, tx, id) })
}

// SetClientSecret replaces the secret hash of client id.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, chain string, recs []*audit.Record) error {
	return db.change(ctx, 0, store.TopicClients, chain, recs, func(tx tables.Querier) error { return dialect.SetClientSecret(ctx, tx, id, hash) })
}

// SetMetaOnce stores value under name unless one is stored, and returns
// the stored one.
func (db *DB) SetMetaOnce(ctx context.Context, name string, value []byte) (out []byte, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		out, err = dialect.SetMetaOnce(ctx, conn{tx}, name, value)
		return err
	})
	return out, err
}

// AddCosignature stores a witness's cosignature and its known size, in one
// transaction (see [store.Cosignatures]).
func (db *DB) AddCosignature(ctx context.Context, c store.Cosignature) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return dialect.AddCosignature(ctx, conn{tx}, c) })
}

// SetWitnessSize records the size of chain the witness has.
func (db *DB) SetWitnessSize(ctx context.Context, chain, witness string, size int64) error {
	return dialect.SetWitnessSize(ctx, conn{db.pool}, chain, witness, size)
}
