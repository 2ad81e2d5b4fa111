//go:build cgo

package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

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
		full := tx.StmtContext(ctx, db.insertIndex)
		defer full.Close()
		args := make([]any, 0, 3*indexRows)
		for len(entries) > 0 {
			n := min(indexRows, len(entries))
			args = args[:0]
			for _, e := range entries[:n] {
				args = append(args, e.ID>>indexRunShift, e.Key, e.ID)
			}
			st := full
			if n < indexRows {
				st, err = tx.PrepareContext(ctx, insertIndexSQL(n))
				if err != nil {
					return err
				}
				defer st.Close()
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return err
			}
			entries = entries[n:]
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: add index: %w", err)
	}
	return moved, nil
}

func insertIndexSQL(rows int) string {
	return "INSERT OR IGNORE INTO audit_index (run, key, id) VALUES (?, ?, ?)" + strings.Repeat(", (?, ?, ?)", rows-1)
}

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
