//go:build cgo

package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

var _ tables.IndexKeeper = (*DB)(nil)

// startIndexer is whether Open starts the index follower (tests turn it
// off to hold the index behind).
var startIndexer = true

// indexRunShift makes the index run-major (see tables.Dialect): a run is
// 4096 consecutive records, whose (key, id) pairs are kept as a few dozen
// sorted blocks (indexblock.go). Keyed on (key, id) alone, every round of
// indexing wrote about one random page per jti, request id and subject
// (three 4 KiB pages of log per record on a ledger of a million); a query
// reads one run after the other instead, one block each.
const indexRunShift = 12

// AddIndex stores entries and moves chain's index mark from from to to,
// in one transaction of the index file, if the mark is still at from. The
// mark keeps the leaf hash of the record at it (checked at open, see
// indexfile.go). The transaction is not followed by a sync (see indexTx).
func (db *DB) AddIndex(ctx context.Context, chain string, from, to int64, entries []tables.IndexEntry) (bool, error) {
	var leaf []byte
	if err := db.r.QueryRowContext(ctx, "SELECT leaf FROM audit WHERE chain = ? AND seq = ?", chain, to).Scan(&leaf); err != nil {
		return false, fmt.Errorf("sqlite: add index: leaf of the mark: %w", err)
	}
	moved := false
	err := db.indexTx(ctx, func(tx *sql.Tx) error {
		n, err := tx.ExecContext(ctx, `INSERT INTO audit_indexed (chain, seq, leaf) VALUES (?, ?, ?)
			ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, leaf = excluded.leaf WHERE audit_indexed.seq = ?`, chain, to, leaf, from)
		if err != nil {
			return err
		}
		if k, err := n.RowsAffected(); err != nil || k == 0 {
			return err
		}
		moved = true
		// In the blocks' order: (run, key, id); one run's blocks at a time.
		// The entries come in record order, so the runs are grouped
		// already (checked); each run's are sorted by themselves.
		byRun := func(a, b tables.IndexEntry) int { return cmp.Compare(a.ID>>indexRunShift, b.ID>>indexRunShift) }
		if !slices.IsSortedFunc(entries, byRun) {
			slices.SortStableFunc(entries, byRun)
		}
		for i := 0; i < len(entries); {
			run := entries[i].ID >> indexRunShift
			j := i + 1
			for j < len(entries) && entries[j].ID>>indexRunShift == run {
				j++
			}
			pairs := entries[i:j]
			slices.SortFunc(pairs, comparePairs)
			if err := db.writeRun(ctx, tx, run, slices.Compact(pairs)); err != nil {
				return err
			}
			i = j
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: add index: %w", err)
	}
	return moved, nil
}

// insertIndexSQL inserts one block (bid, data) of the index.
const insertIndexSQL = "INSERT INTO audit_block (bid, data) VALUES (?, ?)"

// execQuerier is an *sql.Tx (or *sql.DB) of the index file.
type execQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// indexTx runs fn in a write transaction of the index file (its own
// connection and lock: an append never waits for it), not followed by a
// sync: the index can be rebuilt from the records, and its rows and mark
// commit together, so losing the transaction to a power cut loses nothing
// but work.
func (db *DB) indexTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := db.wal.lostErr(); err != nil {
		return err
	}
	tx, err := db.iw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
