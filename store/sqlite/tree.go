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
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, args []any) error {
	rows := len(args) / m.cols
	for done := 0; done < rows; {
		n := min(chunk, rows-done)
		if _, err := tx.StmtContext(ctx, m.stmts[n-1]).ExecContext(ctx, args[done*m.cols:(done+n)*m.cols]...); err != nil {
			return err
		}
		done += n
	}
	return nil
}

func (m *multiInsert) close() {
	for _, s := range m.stmts {
		s.Close()
	}
}

// txHashes reads chain's stored hashes, inside a transaction when tx is set.
type txHashes struct {
	ctx   context.Context
	tx    *sql.Tx
	db    *DB
	chain string
}

func (db *DB) hashReader(ctx context.Context, tx *sql.Tx, chain string) *txHashes {
	return &txHashes{ctx: ctx, tx: tx, db: db, chain: chain}
}

// unstoredBelow is the lowest interior level whose hashes are stored. The
// tree keeps every leaf hash (level 0) and the interior hashes from this
// level up; a lower interior hash (a subtree of at most 128 leaves) is
// computed from its leaves when it is read. Storing every level cost two
// rows per record and held the write lock for it at every checkpoint
// (measured: 5% of the issue throughput); this stores one row per record
// and a few more per 256. Databases that hold the lower levels too (made
// before) read the same hashes.
const unstoredBelow = 8

// storedLevel reports whether the hashes of level are stored.
func storedLevel(level int) bool { return level == 0 || level >= unstoredBelow }

func (r *txHashes) stmt(s *sql.Stmt) *sql.Stmt {
	if r.tx != nil {
		return r.tx.StmtContext(r.ctx, s)
	}
	return s
}

func (r *txHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		level, n := tlog.SplitStoredHashIndex(idx)
		if !storedLevel(level) {
			h, err := r.subtreeHash(level, n)
			if err != nil {
				return nil, err
			}
			out[i] = h
			continue
		}
		var b []byte
		if err := r.stmt(r.db.readHash).QueryRowContext(r.ctx, r.chain, idx).Scan(&b); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("sqlite: tree hash %d of chain %q is missing", idx, r.chain)
			}
			return nil, fmt.Errorf("sqlite: read tree hash: %w", err)
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("sqlite: tree hash %d of chain %q is malformed", idx, r.chain)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// subtreeHash computes the hash of the complete subtree at level (below
// unstoredBelow) whose leftmost leaf is n<<level, from the stored leaf
// hashes.
func (r *txHashes) subtreeHash(level int, n int64) (tlog.Hash, error) {
	first, count := n<<level, int64(1)<<level
	want := make(map[int64]int, count)
	for i := range count {
		want[tlog.StoredHashIndex(0, first+i)] = int(i)
	}
	hs := make([]tlog.Hash, count)
	rows, err := r.stmt(r.db.readRange).QueryContext(r.ctx, r.chain, tlog.StoredHashIndex(0, first), tlog.StoredHashIndex(0, first+count-1))
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("sqlite: read tree hashes: %w", err)
	}
	found := int64(0)
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			rows.Close()
			return tlog.Hash{}, fmt.Errorf("sqlite: read tree hashes: %w", err)
		}
		pos, ok := want[idx]
		if !ok {
			continue // an interior hash stored by an older version
		}
		if len(b) != tlog.HashSize {
			rows.Close()
			return tlog.Hash{}, fmt.Errorf("sqlite: tree hash %d of chain %q is malformed", idx, r.chain)
		}
		copy(hs[pos][:], b)
		found++
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return tlog.Hash{}, fmt.Errorf("sqlite: read tree hashes: %w", err)
	}
	if found != count {
		return tlog.Hash{}, fmt.Errorf("sqlite: tree hashes of records %d to %d of chain %q are missing", first+1, first+count, r.chain)
	}
	for len(hs) > 1 {
		for i := 0; i < len(hs); i += 2 {
			hs[i/2] = tlog.NodeHash(hs[i], hs[i+1])
		}
		hs = hs[:len(hs)/2]
	}
	return hs[0], nil
}

// treeChunk is how many records one step of tree building reads.
const treeChunk = 2048

// BuildTree extends chain's stored tree hashes over every record appended
// since the last build and returns the size of the tree. Records are
// appended without their tree hashes (the hashes are derived data: each
// record's leaf hash is stored with it), so the commit of every batch stays
// cheap; the tree is built in bulk when a checkpoint is made, and before
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
		rows, err := tx.StmtContext(ctx, db.unhashed).QueryContext(ctx, chain, size, treeChunk)
		if err != nil {
			return 0, fmt.Errorf("sqlite: read leaves: %w", err)
		}
		for rows.Next() {
			var seq int64
			var leaf []byte
			if err := rows.Scan(&seq, &leaf); err != nil {
				rows.Close()
				return 0, fmt.Errorf("sqlite: read leaves: %w", err)
			}
			if want := size + int64(len(leaves)) + 1; seq != want {
				rows.Close()
				return 0, fmt.Errorf("sqlite: chain %q: record %d is missing, the tree cannot be extended past it", chain, want)
			}
			if len(leaf) != tlog.HashSize {
				rows.Close()
				return 0, fmt.Errorf("sqlite: chain %q: record %d has a malformed leaf hash", chain, seq)
			}
			leaves = append(leaves, tlog.Hash(leaf))
		}
		if err := rows.Close(); err != nil {
			return 0, fmt.Errorf("sqlite: read leaves: %w", err)
		}
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("sqlite: read leaves: %w", err)
		}
		if len(leaves) == 0 {
			break
		}
		idxs, hashes, err := store.ExtendTree(size, leaves, r)
		if err != nil {
			return 0, err
		}
		args := make([]any, 0, 3*len(leaves)*9/8)
		for j, idx := range idxs {
			if level, _ := tlog.SplitStoredHashIndex(idx); storedLevel(level) {
				args = append(args, chain, idx, hashes[j][:])
			}
		}
		if err := db.insertHash.exec(ctx, tx, args); err != nil {
			return 0, fmt.Errorf("sqlite: store tree hashes: %w", err)
		}
		size += int64(len(leaves))
		if len(leaves) < treeChunk || limit > 0 && size-start >= limit {
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

// TreeSize is the number of records in chain.
func (db *DB) TreeSize(ctx context.Context, chain string) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = ?", chain).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: tree size: %w", err)
	}
	return n, nil
}

// Chains lists the chains that have records.
func (db *DB) Chains(ctx context.Context) ([]string, error) {
	// A skip scan of the (chain, seq) index: one seek per chain, where
	// SELECT DISTINCT reads every entry (80 ms at a million records).
	rows, err := db.r.QueryContext(ctx, `WITH RECURSIVE c(chain) AS (
		SELECT (SELECT chain FROM audit ORDER BY chain LIMIT 1)
		UNION ALL
		SELECT (SELECT chain FROM audit WHERE chain > c.chain ORDER BY chain LIMIT 1) FROM c WHERE c.chain IS NOT NULL
	) SELECT chain FROM c WHERE chain IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list chains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
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
		root, err := tlog.TreeHash(size, db.hashReader(ctx, tx, chain))
		if err != nil {
			return err
		}
		note, err := sign(size, root)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO checkpoints (chain, size, root, note, time) VALUES (?, ?, ?, ?, ?)",
			chain, size, root[:], note, at.UnixNano()); err != nil {
			return fmt.Errorf("sqlite: store checkpoint: %w", err)
		}
		cp = &store.Checkpoint{Chain: chain, Size: size, Root: root, Note: note, Time: at}
		return nil
	})
	return cp, err
}

// Checkpoints returns chain's checkpoints by size.
func (db *DB) Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT size, root, note, time FROM checkpoints WHERE chain = ? ORDER BY size", chain)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list checkpoints: %w", err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		cp := store.Checkpoint{Chain: chain}
		var root []byte
		var t int64
		if err := rows.Scan(&cp.Size, &root, &cp.Note, &t); err != nil {
			return nil, err
		}
		copy(cp.Root[:], root)
		cp.Time = time.Unix(0, t).UTC()
		out = append(out, cp)
	}
	return out, rows.Err()
}

// Meta reads a ledger setting; ok is false when it is not set.
func (db *DB) Meta(ctx context.Context, name string) (value []byte, ok bool, err error) {
	err = db.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = ?", name).Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("sqlite: read %s: %w", name, err)
	}
	return value, true, nil
}

// MetaAll returns every ledger-wide setting.
func (db *DB) MetaAll(ctx context.Context) (map[string][]byte, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT name, value FROM meta")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read settings: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var value []byte
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("sqlite: read settings: %w", err)
		}
		out[name] = value
	}
	return out, rows.Err()
}

// SetMetaOnce stores a ledger setting unless it exists; it returns the
// value that is stored afterwards (another process may have won).
func (db *DB) SetMetaOnce(ctx context.Context, name string, value []byte) ([]byte, error) {
	var out []byte
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", name, value); err != nil {
			return fmt.Errorf("sqlite: store %s: %w", name, err)
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = ?", name).Scan(&out)
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
	rows, err := db.r.QueryContext(ctx, "SELECT seq, time, body, leaf FROM audit WHERE chain = ? ORDER BY seq", chain)
	if err != nil {
		return fmt.Errorf("sqlite: scan chain: %w", err)
	}
	defer rows.Close()
	var seq, t int64
	var body, leaf sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&seq, &t, &body, &leaf); err != nil {
			return fmt.Errorf("sqlite: scan chain: %w", err)
		}
		if len(body) == 0 {
			body = nil // pruned
		}
		if err := fn(seq, t, body, leaf); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RecordBody returns the canonical encoding of record seq of chain, or
// [store.ErrNotFound] (also for a pruned record).
func (db *DB) RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error) {
	var body []byte
	err := db.r.QueryRowContext(ctx, "SELECT body FROM audit WHERE chain = ? AND seq = ?", chain, seq).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && len(body) == 0):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("sqlite: read record: %w", err)
	}
	return body, nil
}

// PruneBatch is how many record bodies one pruning transaction removes, so
// that retention never holds the write lock for long.
const PruneBatch = 1000

// Prune removes the bodies of chain's records with seq <= upTo and time
// before cut, in transactions of PruneBatch rows, keeping their leaf and
// tree hashes. A pruned body is stored as an empty blob (a canonical record
// is never empty). It returns how many bodies it removed.
func (db *DB) Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error) {
	var total int64
	for lo := int64(1); lo <= upTo; lo += PruneBatch {
		hi := min(lo+PruneBatch-1, upTo)
		var n int64
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, "UPDATE audit SET body = X'' WHERE chain = ? AND seq BETWEEN ? AND ? AND time < ? AND length(body) > 0",
				chain, lo, hi, cut.UnixNano())
			if err != nil {
				return fmt.Errorf("sqlite: prune: %w", err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
