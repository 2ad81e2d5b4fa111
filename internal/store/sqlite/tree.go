package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// multiInsert executes multi-row INSERTs of power-of-two sizes, so a batch
// of any size takes at most log2(chunk)+1 statement executions.
type multiInsert struct {
	cols  int
	stmts []*sql.Stmt // stmts[i] inserts 1<<i rows
}

func prepareMulti(ctx context.Context, db *sql.DB, table, columns string, cols int) (*multiInsert, error) {
	m := &multiInsert{cols: cols}
	row := "(?" + repeat(",?", cols-1) + ")"
	for n := 1; n <= chunk; n *= 2 {
		st, err := db.PrepareContext(ctx, "INSERT INTO "+table+" ("+columns+") VALUES "+row+repeat(","+row, n-1))
		if err != nil {
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		m.stmts = append(m.stmts, st)
	}
	return m, nil
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// exec inserts the rows whose values are laid out flat in args.
func (m *multiInsert) exec(ctx context.Context, tx *sql.Tx, args []any) error {
	rows := len(args) / m.cols
	for done := 0; done < rows; {
		k := len(m.stmts) - 1
		for 1<<k > rows-done {
			k--
		}
		n := 1 << k
		if _, err := tx.StmtContext(ctx, m.stmts[k]).ExecContext(ctx, args[done*m.cols:(done+n)*m.cols]...); err != nil {
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

// txHashes reads stored hashes inside a transaction, seeing the hashes this
// transaction is about to insert (overlay) before they are written.
type txHashes struct {
	ctx     context.Context
	tx      *sql.Tx
	stmt    *sql.Stmt
	chain   string
	overlay map[int64]tlog.Hash
}

func (r *txHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if h, ok := r.overlay[idx]; ok {
			out[i] = h
			continue
		}
		var b []byte
		q := r.stmt
		if r.tx != nil {
			q = r.tx.StmtContext(r.ctx, r.stmt)
		}
		if err := q.QueryRowContext(r.ctx, r.chain, idx).Scan(&b); err != nil {
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

// addTreeHashes computes the stored hashes of recs (already numbered, with
// leaf hashes) and inserts them in tx.
func (db *DB) addTreeHashes(ctx context.Context, tx *sql.Tx, chain string, recs []*audit.Record) error {
	r := &txHashes{ctx: ctx, tx: tx, stmt: db.readHash, chain: chain, overlay: make(map[int64]tlog.Hash, 2*len(recs))}
	args := make([]any, 0, 3*2*len(recs))
	for _, rec := range recs {
		n := int64(rec.Seq) - 1
		hashes, err := tlog.StoredHashesForRecordHash(n, tlog.Hash(rec.LeafHash), r)
		if err != nil {
			return err
		}
		base := tlog.StoredHashIndex(0, n)
		for i, h := range hashes {
			r.overlay[base+int64(i)] = h
			args = append(args, chain, base+int64(i), h[:])
		}
	}
	if err := db.insertHash.exec(ctx, tx, args); err != nil {
		return fmt.Errorf("sqlite: store tree hashes: %w", err)
	}
	return nil
}

// HashReader returns a reader of chain's stored tree hashes.
func (db *DB) HashReader(ctx context.Context, chain string) tlog.HashReader {
	return &txHashes{ctx: ctx, stmt: db.readHash, chain: chain}
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
	rows, err := db.r.QueryContext(ctx, "SELECT DISTINCT chain FROM audit ORDER BY chain")
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

// Checkpoint is a stored signed checkpoint.
type Checkpoint struct {
	Chain string
	Size  int64
	Root  tlog.Hash
	Note  []byte
	Time  time.Time
}

// AddCheckpoint makes a checkpoint of chain at its current size in one
// transaction: sign receives the size and root hash and returns the signed
// note, which is stored.
func (db *DB) AddCheckpoint(ctx context.Context, chain string, at time.Time, sign func(size int64, root tlog.Hash) ([]byte, error)) (*Checkpoint, error) {
	var cp *Checkpoint
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var size int64
		if err := tx.StmtContext(ctx, db.head).QueryRowContext(ctx, chain).Scan(&size); err != nil {
			return fmt.Errorf("sqlite: read chain head: %w", err)
		}
		root, err := tlog.TreeHash(size, &txHashes{ctx: ctx, tx: tx, stmt: db.readHash, chain: chain})
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
		cp = &Checkpoint{Chain: chain, Size: size, Root: root, Note: note, Time: at}
		return nil
	})
	return cp, err
}

// Checkpoints returns chain's checkpoints by size.
func (db *DB) Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT size, root, note, time FROM checkpoints WHERE chain = ? ORDER BY size", chain)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		cp := Checkpoint{Chain: chain}
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
// [ErrNotFound] (also for a pruned record).
func (db *DB) RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error) {
	var body []byte
	err := db.r.QueryRowContext(ctx, "SELECT body FROM audit WHERE chain = ? AND seq = ?", chain, seq).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && len(body) == 0):
		return nil, ErrNotFound
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
