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

// indexRows is one INSERT into audit_index carries at most.
const indexRows = 128

// AddIndex stores entries and moves chain's index mark from from to to,
// in one transaction, if the mark is still at from. The transaction is
// not followed by a sync of the log (see indexTx).
func (db *DB) AddIndex(ctx context.Context, chain string, from, to int64, entries []tables.IndexEntry) (bool, error) {
	moved := false
	err := db.indexTx(ctx, func(tx *sql.Tx) error {
		var err error
		if moved, err = dialect.MoveIndexMark(ctx, querier{tx}, chain, from, to); err != nil || !moved {
			return err
		}
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

// indexTx runs fn in a write transaction that is not followed by a sync
// of the write-ahead log: the index can be rebuilt from the records, and
// its rows and mark commit together, so losing the transaction to a power
// cut loses nothing but work; the next append's sync makes it durable.
// An append waits for it as for any write (one connection), which is why
// the index is written in chunks (tables.Indexer).
func (db *DB) indexTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := db.wal.lostErr(); err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
