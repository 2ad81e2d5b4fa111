//go:build cgo

package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

var _ tables.IndexKeeper = (*DB)(nil)

// startIndexer is whether Open starts the index follower (tests turn it
// off to hold the index behind).
var startIndexer = true

// indexRunShift makes audit_index run-major (see tables.Dialect): a run is
// 4096 consecutive records. Keyed on (key, id) alone, every round of
// indexing wrote about one random page per jti, request id and subject
// (three 4 KiB pages of log per record on a ledger of a million); a query
// reads one run after the other instead, one short index search each.
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
		// In the B-tree's order: (run, key, id).
		slices.SortFunc(entries, func(a, b tables.IndexEntry) int {
			if c := cmp.Compare(a.ID>>indexRunShift, b.ID>>indexRunShift); c != 0 {
				return c
			}
			if c := cmp.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		// One statement, one bound value: the rows as a JSON array that
		// SQLite unpacks (binding three values a row cost more than the
		// inserts).
		rows := make([]byte, 0, 48*len(entries)+2)
		rows = append(rows, '[')
		for i, e := range entries {
			if i > 0 {
				rows = append(rows, ',')
			}
			rows = append(rows, '[')
			rows = strconv.AppendInt(rows, e.ID>>indexRunShift, 10)
			rows = append(rows, ',')
			rows = strconv.AppendInt(rows, e.Key, 10)
			rows = append(rows, ',')
			rows = strconv.AppendInt(rows, e.ID, 10)
			rows = append(rows, ']')
		}
		rows = append(rows, ']')
		_, err = tx.StmtContext(ctx, db.insertIndex).ExecContext(ctx, string(rows))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: add index: %w", err)
	}
	return moved, nil
}

// insertIndexSQL inserts the rows of a JSON array of [run, key, id].
const insertIndexSQL = "INSERT OR IGNORE INTO audit_index (run, key, id) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)"

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
