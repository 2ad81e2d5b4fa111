//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// multiInsert executes multi-row INSERTs: a batch of up to chunk rows is
// one statement execution (one call into SQLite), larger batches take one
// per chunk rows. The statements for every row count are prepared up front
// (the write pool has one connection, held by the transaction that needs
// them).
type multiInsert struct {
	cols  int
	stmts []*sql.Stmt // stmts[n-1] inserts n rows
}

func prepareMulti(ctx context.Context, db *sql.DB, table, columns string, cols int) (*multiInsert, error) {
	m := &multiInsert{cols: cols}
	row := "(?" + strings.Repeat(",?", cols-1) + ")"
	for n := 1; n <= chunk; n++ {
		st, err := db.PrepareContext(ctx, "INSERT INTO "+table+" ("+columns+") VALUES "+row+strings.Repeat(","+row, n-1))
		if err != nil {
			m.close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		m.stmts = append(m.stmts, st)
	}
	return m, nil
}

// exec inserts the rows whose values are laid out flat in args.
// It returns the rowid of the last row.
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, args []any) (last int64, err error) {
	rows := len(args) / m.cols
	for done := 0; done < rows; {
		n := min(chunk, rows-done)
		res, err := tx.StmtContext(ctx, m.stmts[n-1]).ExecContext(ctx, args[done*m.cols:(done+n)*m.cols]...)
		if err != nil {
			return 0, err
		}
		if last, err = res.LastInsertId(); err != nil {
			return 0, err
		}
		done += n
	}
	return last, nil
}

func (m *multiInsert) close() {
	for _, s := range m.stmts {
		s.Close()
	}
}

// hashReader reads chain's tree hashes, inside a transaction when tx is
// set (the stored ones with one point query each, a leaf range with one
// query; see [tables.Tree]).
func (db *DB) hashReader(ctx context.Context, tx *sql.Tx, chain string) *tables.Tree {
	read := db.readHash
	q := querier{db.w}
	if tx != nil {
		read = tx.StmtContext(ctx, db.readHash)
		q = querier{tx}
	}
	return &tables.Tree{Dialect: dialect, Ctx: ctx, Q: q, Chain: chain, Stored: func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, idx := range indexes {
			var b []byte
			if err := read.QueryRowContext(ctx, chain, idx).Scan(&b); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("sqlite: tree hash %d of chain %q is missing", idx, chain)
				}
				return nil, fmt.Errorf("sqlite: read tree hash: %w", err)
			}
			if len(b) != tlog.HashSize {
				return nil, fmt.Errorf("sqlite: tree hash %d of chain %q is malformed", idx, chain)
			}
			copy(out[i][:], b)
		}
		return out, nil
	}}
}

// treeChunk is how many records one step of tree building reads.
const treeChunk = 2048

// BuildTree extends chain's stored tree hashes over every record appended
// since the last build and returns the size of the tree. Records are
// appended without their tree hashes (the hashes are derived data: each
// record's leaf hash is stored with it, and is the tree's level 0), so the
// commit of every batch stays cheap; the tree is built in bulk when a checkpoint is made, and before
// proofs and verification. It stops with an error at a missing record.
//
// Each step of treeChunk records is its own transaction, so a long backlog
// does not hold the write lock (and the audit appends behind it) for long.
func (db *DB) BuildTree(ctx context.Context, chain string) (int64, error) {
	size, err := db.TreeBuilt(ctx, chain)
	for err == nil {
		before := size
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			size, err = db.buildTreeTx(ctx, tx, chain, treeChunk)
			return err
		})
		if size-before < treeChunk {
			break
		}
	}
	if err != nil {
		// The transaction was rolled back: report what is stored.
		if n, err2 := db.TreeBuilt(ctx, chain); err2 == nil {
			size = n
		}
	}
	return size, err
}

// TreeBuilt is how many of chain's records the stored tree hashes cover.
func (db *DB) TreeBuilt(ctx context.Context, chain string) (int64, error) {
	var n int64
	err := db.treeSize.QueryRowContext(ctx, chain).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: read tree size: %w", err)
	}
	return n, nil
}

// buildTreeTx extends chain's tree in tx over at most limit records (all
// of them when limit <= 0) and returns the size of the tree.
func (db *DB) buildTreeTx(ctx context.Context, tx *sql.Tx, chain string, limit int64) (int64, error) {
	var size int64
	err := tx.StmtContext(ctx, db.treeSize).QueryRowContext(ctx, chain).Scan(&size)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: read tree size: %w", err)
	}
	start := size
	r := db.hashReader(ctx, tx, chain)
	leaves := make([]tlog.Hash, 0, 256)
	for {
		leaves = leaves[:0]
		var cached bool
		leaves, cached = db.leaves.take(chain, size, treeChunk, leaves)
		if cached {
			// The rows must still be there (the tree stops at a missing
			// record): counting them in the (chain, seq) index is cheap.
			// The hashes are the ones this process computed and stored
			// with them; a leaf altered in its row since is not read here
			// (audit verify recomputes every leaf from its body and finds
			// it against the tree).
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM audit WHERE chain = ? AND seq > ? AND seq <= ?",
				chain, size, size+int64(len(leaves))).Scan(&n); err != nil {
				return 0, fmt.Errorf("sqlite: count records: %w", err)
			}
			if n != len(leaves) {
				leaves, cached = leaves[:0], false // read them: the error names the missing one
			}
		}
		if !cached {
			leaves, err = dialect.Leaves(ctx, querier{tx}, chain, size, treeChunk, leaves)
			if err != nil {
				return 0, err
			}
		}
		if len(leaves) == 0 {
			break
		}
		idxs, hashes, err := tables.ExtendTree(size, leaves, r)
		if err != nil {
			return 0, err
		}
		// Only the levels from tables.UnstoredBelow up: the leaves are
		// in the audit rows already.
		idxs, hashes = tables.StoredOnly(idxs, hashes)
		args := make([]any, 0, 3*len(idxs))
		for j, idx := range idxs {
			args = append(args, chain, idx, hashes[j][:])
		}
		if _, err := db.insertHash.exec(ctx, tx, args); err != nil {
			return 0, fmt.Errorf("sqlite: store tree hashes: %w", err)
		}
		size += int64(len(leaves))
		// The cache ends where this process's last batch ended; the
		// database may hold more (another process's): read on.
		if !cached && len(leaves) < treeChunk || limit > 0 && size-start >= limit {
			break
		}
	}
	if size != start {
		if _, err := tx.StmtContext(ctx, db.setSize).ExecContext(ctx, chain, size); err != nil {
			return 0, fmt.Errorf("sqlite: store tree size: %w", err)
		}
	}
	return size, nil
}

// HashReader returns a reader of chain's stored tree hashes.
func (db *DB) HashReader(ctx context.Context, chain string) tlog.HashReader {
	return db.hashReader(ctx, nil, chain)
}

// AddCheckpoint makes a checkpoint of chain at its current size in one
// transaction: sign receives the size and root hash and returns the signed
// note, which is stored.
func (db *DB) AddCheckpoint(ctx context.Context, chain string, at time.Time, sign func(size int64, root tlog.Hash) ([]byte, error)) (*store.Checkpoint, error) {
	// Build most of the tree in short steps first; the checkpoint's own
	// transaction then only covers the records appended meanwhile.
	if _, err := db.BuildTree(ctx, chain); err != nil {
		return nil, err
	}
	var cp *store.Checkpoint
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		size, err := db.buildTreeTx(ctx, tx, chain, 0)
		if err != nil {
			return err
		}
		cp, err = dialect.SignCheckpoint(ctx, querier{tx}, chain, size, db.hashReader(ctx, tx, chain), at, sign)
		return err
	})
	return cp, err
}
