//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// The shared reads, embedded in DB under an unexported name.
type reads = tables.Reads

var _ tables.CountKeeper = (*DB)(nil)

// dialect is the SQLite flavour of the shared queries: ? placeholders;
// only chain, seq and time are columns (an index in the append's
// transaction would be a random-key B-tree that costs page writes per
// record on the hot path): the other filters are read from the body, or,
// with the audit index on (Options.AuditIndex), answered from
// audit_index, kept behind the commits, and read from the body for the
// records it does not cover yet.
var dialect = &tables.Dialect{
	Name: "sqlite",
	// Packed or canonical; a pruned body is empty: NULL, matching nothing.
	Member:    member,
	EmptyBlob: "X''",
	// The (chain, seq) index of UNIQUE (chain, seq).
	TailIndex:     " INDEXED BY sqlite_autoindex_audit_1",
	IndexRunShift: indexRunShift,
	IsUnique:      isUnique,
	ScanBytes:     func(p *[]byte) any { return (*sql.RawBytes)(p) },
	// A time range's ids read from audit_time (time, rowid) bound the
	// query's walk of the rowids: its plan otherwise reads every record
	// of the range through audit_time and sorts them by id (a minute of
	// 60,000 records: 144-194 ms for a newest-first page). The read
	// takes about 0.17 µs of CPU an entry here: a query of the index
	// reads at most 200,000 (a rare value is found without).
	TimeSpanMost: timeSpanMost,
	TimeIndex:    " INDEXED BY audit_time",
}

// timeSpanMost is the most records of a time range whose ids bound a
// query of the audit index (Dialect.TimeSpanMost).
const timeSpanMost = 200_000

func isUnique(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.ExtendedCode == sqlite3.ErrConstraintUnique || e.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

// querier runs the shared queries on a *sql.DB or *sql.Tx.
type querier struct {
	q interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
}

func (q querier) Query(ctx context.Context, query string, args ...any) (tables.Rows, error) {
	r, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }

// durable runs every Exec in a write transaction of its own (inTx: the log
// synced after the commit).
type durable struct{ db *DB }

func (d durable) Query(ctx context.Context, query string, args ...any) (tables.Rows, error) {
	return querier{d.db.w}.Query(ctx, query, args...)
}

func (d durable) Exec(ctx context.Context, query string, args ...any) (n int64, err error) {
	err = d.db.inTx(ctx, func(tx *sql.Tx) error {
		n, err = querier{tx}.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

// change runs fn and appends recs to chain in one write transaction.
func (db *DB) change(ctx context.Context, chain string, recs []*audit.Record, fn func(tx tables.Querier) error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := fn(querier{tx}); err != nil {
			return err
		}
		return db.appendTx(ctx, tx, chain, recs)
	})
}

// AddKey stores k (see [store.Store]); recs are appended to chain in the
// same transaction.
func (db *DB) AddKey(ctx context.Context, k keys.Stored, demote, ifEmpty bool, chain string, recs []*audit.Record) error {
	return db.change(ctx, chain, recs, func(tx tables.Querier) error { return dialect.AddKey(ctx, tx, k, demote, ifEmpty) })
}

// SetKeyState changes the state of key kid; recs are appended in the same
// transaction.
func (db *DB) SetKeyState(ctx context.Context, kid string, state keys.State, at time.Time, chain string, recs []*audit.Record) error {
	return db.change(ctx, chain, recs, func(tx tables.Querier) error { return dialect.SetKeyState(ctx, tx, kid, state, at) })
}

// PromoteKey makes the pre-published key kid active and every other active
// key verify-only, appending recs in the same transaction.
func (db *DB) PromoteKey(ctx context.Context, kid string, at time.Time, chain string, recs []*audit.Record) error {
	return db.change(ctx, chain, recs, func(tx tables.Querier) error { return dialect.PromoteKey(ctx, tx, kid, at) })
}

// Revoke records the revocation of (iss, jti) and appends recs in the same
// transaction. It reports whether the token was already revoked.
func (db *DB) Revoke(ctx context.Context, iss, jti string, exp, at time.Time, chain string, recs []*audit.Record) (already bool, err error) {
	err = db.change(ctx, chain, recs, func(tx tables.Querier) error {
		already, err = dialect.Revoke(ctx, tx, iss, jti, exp, at)
		return err
	})
	return already, err
}

// AddClient stores c and appends recs in the same transaction.
func (db *DB) AddClient(ctx context.Context, c store.ClientRow, chain string, recs []*audit.Record) error {
	return db.change(ctx, chain, recs, func(tx tables.Querier) error { return dialect.AddClient(ctx, tx, c) })
}

// DeleteClient removes client id and appends recs in the same transaction.
func (db *DB) DeleteClient(ctx context.Context, id string, chain string, recs []*audit.Record) error {
	return db.change(ctx, chain, recs, func(tx tables.Querier) error { return dialect.DeleteClient(ctx, tx, id) })
}

// SetClientSecret replaces client id's secret hash and appends recs.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, chain string, recs []*audit.Record) error {
	return db.change(ctx, chain, recs, func(tx tables.Querier) error { return dialect.SetClientSecret(ctx, tx, id, hash) })
}

// SetMetaOnce stores a ledger setting unless it exists; it returns the
// value that is stored afterwards (another process may have won).
func (db *DB) SetMetaOnce(ctx context.Context, name string, value []byte) (out []byte, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		out, err = dialect.SetMetaOnce(ctx, querier{tx}, name, value)
		return err
	})
	return out, err
}

// Prune removes the bodies of chain's records with seq <= upTo and time
// before cut, in transactions of [tables.PruneBatch] rows, keeping their
// leaf and tree hashes. It returns how many bodies it removed.
func (db *DB) Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error) {
	return dialect.Prune(ctx, durable{db}, chain, upTo, cut)
}

// AddCosignature stores a witness's cosignature and its known size, in one
// transaction (see [store.Cosignatures]).
func (db *DB) AddCosignature(ctx context.Context, c store.Cosignature) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return dialect.AddCosignature(ctx, querier{tx}, c) })
}

// SetWitnessSize records the size of chain the witness has.
func (db *DB) SetWitnessSize(ctx context.Context, chain, witness string, size int64) error {
	return dialect.SetWitnessSize(ctx, durable{db}, chain, witness, size)
}
