package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// treeChunk is how many records one step of tree building reads.
const treeChunk = 4096

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// hashReader reads chain's tree hashes through q (a pool or a
// transaction): the stored ones in one query per call, a leaf range in
// one query (see [tables.Tree]).
func hashReader(ctx context.Context, q querier, chain string) *tables.Tree {
	return &tables.Tree{Dialect: dialect, Ctx: ctx, Q: conn{q}, Chain: chain, Stored: func(indexes []int64) ([]tlog.Hash, error) {
		return readStored(ctx, q, chain, indexes)
	}}
}

// readStored reads the stored hashes at indexes, in order.
func readStored(ctx context.Context, q querier, chain string, indexes []int64) ([]tlog.Hash, error) {
	rows, err := q.Query(ctx, "SELECT idx, hash FROM tree_hashes WHERE chain = $1 AND idx = ANY($2)", chain, indexes)
	if err != nil {
		return nil, fmt.Errorf("postgres: read tree hashes: %w", err)
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: read tree hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			rows.Close()
			return nil, fmt.Errorf("postgres: tree hash %d of chain %q is malformed", idx, chain)
		}
		found[idx] = tlog.Hash(b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read tree hashes: %w", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		h, ok := found[idx]
		if !ok {
			return nil, fmt.Errorf("postgres: tree hash %d of chain %q is missing", idx, chain)
		}
		out[i] = h
	}
	return out, nil
}

// HashReader returns a reader of chain's tree hashes.
func (db *DB) HashReader(ctx context.Context, chain string) tlog.HashReader {
	return hashReader(ctx, db.pool, chain)
}

// BuildTree extends chain's stored tree hashes over every record appended
// since the last build and returns the size of the tree.
func (db *DB) BuildTree(ctx context.Context, chain string) (int64, error) {
	var size int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		size, err = buildTreeTx(ctx, tx, chain)
		return err
	})
	if err != nil {
		if n, err2 := db.TreeBuilt(ctx, chain); err2 == nil {
			size = n
		}
	}
	return size, err
}

// buildTreeTx builds chain's tree to its newest record in tx, holding the
// chain's lock (so the head cannot move meanwhile).
func buildTreeTx(ctx context.Context, tx pgx.Tx, chain string) (int64, error) {
	if err := lockChain(ctx, tx, chain); err != nil {
		return 0, err
	}
	var size int64
	err := tx.QueryRow(ctx, "SELECT size FROM tree_size WHERE chain = $1", chain).Scan(&size)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: read tree size: %w", err)
	}
	start := size
	r := hashReader(ctx, tx, chain)
	for {
		leaves, err := dialect.Leaves(ctx, conn{tx}, chain, size, treeChunk, nil)
		if err != nil {
			return 0, err
		}
		if len(leaves) == 0 {
			break
		}
		idxs, hs, err := tables.ExtendTree(size, leaves, r)
		if err != nil {
			return 0, err
		}
		// Only the levels from tables.UnstoredBelow up: the leaves are
		// in the audit rows already.
		idxs, hs = tables.StoredOnly(idxs, hs)
		hashes := make([][]byte, len(hs))
		for j := range hs {
			hashes[j] = hs[j][:]
		}
		if len(idxs) > 0 {
			if _, err := tx.Exec(ctx, "INSERT INTO tree_hashes (chain, idx, hash) SELECT $1, * FROM unnest($2::bigint[], $3::bytea[])", chain, idxs, hashes); err != nil {
				return 0, fmt.Errorf("postgres: store tree hashes: %w", err)
			}
		}
		size += int64(len(leaves))
		if len(leaves) < treeChunk {
			break
		}
	}
	if size != start {
		if _, err := tx.Exec(ctx, "INSERT INTO tree_size (chain, size) VALUES ($1, $2) ON CONFLICT (chain) DO UPDATE SET size = excluded.size", chain, size); err != nil {
			return 0, fmt.Errorf("postgres: store tree size: %w", err)
		}
	}
	return size, nil
}

// AddCheckpoint builds chain's tree to its newest record and stores the
// note sign returns for that size and root, in one transaction.
func (db *DB) AddCheckpoint(ctx context.Context, chain string, at time.Time, sign func(size int64, root tlog.Hash) ([]byte, error)) (*store.Checkpoint, error) {
	var cp *store.Checkpoint
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		size, err := buildTreeTx(ctx, tx, chain)
		if err != nil {
			return err
		}
		cp, err = dialect.SignCheckpoint(ctx, conn{tx}, chain, size, hashReader(ctx, tx, chain), at, sign)
		return err
	})
	return cp, err
}
