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

// dialect is the SQLite flavour of the shared queries: ? placeholders,
// every filter but chain and time read from the body (only chain, seq and
// time are columns: every other index would be a random-key B-tree that
// costs a page write per record on the hot path; combine body filters
// with a time range on large ledgers).
var dialect = &tables.Dialect{
	Name:      "sqlite",
	Member:    func(m string) string { return "json_extract(CAST(body AS TEXT), '$." + m + "')" },
	EmptyBlob: "X''",
	IsUnique:  isUnique,
	ScanBytes: func(p *[]byte) any { return (*sql.RawBytes)(p) },
}

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

// Query returns the records matching f, oldest first.
func (db *DB) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	return dialect.QueryRecords(ctx, querier{db.r}, f)
}

// Keys returns every managed key, oldest first.
func (db *DB) Keys(ctx context.Context) ([]keys.Stored, error) {
	return dialect.Keys(ctx, querier{db.r})
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

// RevocationsSince returns revocations made after the given time (Unix ns)
// whose tokens have not expired before notExpiredAt.
func (db *DB) RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]store.Revocation, error) {
	return dialect.RevocationsSince(ctx, querier{db.r}, since, notExpiredAt)
}

// Clients lists every client, oldest first.
func (db *DB) Clients(ctx context.Context) ([]store.ClientRow, error) {
	return dialect.Clients(ctx, querier{db.r})
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

// Meta reads a ledger setting; ok is false when it is not set.
func (db *DB) Meta(ctx context.Context, name string) (value []byte, ok bool, err error) {
	return dialect.Meta(ctx, querier{db.r}, name)
}

// MetaAll returns every ledger-wide setting.
func (db *DB) MetaAll(ctx context.Context) (map[string][]byte, error) {
	return dialect.MetaAll(ctx, querier{db.r})
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

// ScanChain calls fn for every record row of chain in seq order. body is nil
// for a pruned record. The slices are only valid during the call.
func (db *DB) ScanChain(ctx context.Context, chain string, fn func(seq int64, body, leaf []byte) error) error {
	return db.ScanChainTimes(ctx, chain, func(seq, _ int64, body, leaf []byte) error { return fn(seq, body, leaf) })
}

// ScanChainTimes is ScanChain with each record's time (Unix ns).
func (db *DB) ScanChainTimes(ctx context.Context, chain string, fn func(seq, time int64, body, leaf []byte) error) error {
	return dialect.ScanChainTimes(ctx, querier{db.r}, chain, fn)
}

// RecordBody returns the canonical encoding of record seq of chain, or
// [store.ErrNotFound] (also for a pruned record).
func (db *DB) RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error) {
	return dialect.RecordBody(ctx, querier{db.r}, chain, seq)
}

// Prune removes the bodies of chain's records with seq <= upTo and time
// before cut, in transactions of [tables.PruneBatch] rows, keeping their
// leaf and tree hashes. It returns how many bodies it removed.
func (db *DB) Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error) {
	return dialect.Prune(ctx, durable{db}, chain, upTo, cut)
}

// TreeSize is the number of records in chain.
func (db *DB) TreeSize(ctx context.Context, chain string) (int64, error) {
	return dialect.TreeSize(ctx, querier{db.r}, chain)
}

// Chains lists the chains that have records.
func (db *DB) Chains(ctx context.Context) ([]string, error) {
	return dialect.Chains(ctx, querier{db.r})
}

// Checkpoints returns chain's checkpoints by size.
func (db *DB) Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error) {
	return dialect.Checkpoints(ctx, querier{db.r}, chain)
}

// CountedUpTo returns how far each chain's records are counted.
func (db *DB) CountedUpTo(ctx context.Context) (map[string]int64, error) {
	return dialect.CountedUpTo(ctx, querier{db.r})
}

// RecordsAfter calls fn for at most limit records of chain after seq.
func (db *DB) RecordsAfter(ctx context.Context, chain string, after int64, limit int, fn func(seq int64, body []byte) error) error {
	return dialect.RecordsAfter(ctx, querier{db.r}, chain, after, limit, fn)
}
