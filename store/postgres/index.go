package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

var _ tables.IndexKeeper = (*DB)(nil)

// startIndexer is whether Open starts the index follower (tests turn it
// off to hold the index behind).
var startIndexer = true

// AddIndex stores entries and moves chain's index mark from from to to,
// in one transaction, if the mark is still at from (a node indexing the
// same run at the same time waits for this one's row lock, then finds
// the mark moved and stores nothing).
func (db *DB) AddIndex(ctx context.Context, chain string, from, to int64, entries []tables.IndexEntry) (bool, error) {
	moved := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if moved, err = dialect.MoveIndexMark(ctx, conn{tx}, chain, from, to); err != nil || !moved {
			return err
		}
		keys, ids := make([]int64, len(entries)), make([]int64, len(entries))
		for i, e := range entries {
			keys[i], ids[i] = e.Key, e.ID
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_index (key, id) SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`, keys, ids)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: add index: %w", err)
	}
	return moved, nil
}
