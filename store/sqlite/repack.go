//go:build cgo

package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/store/internal/packed"
)

// repackChunk is the number of records a repack transaction reads.
const repackChunk = 4096

// Repack rewrites the canonical bodies of the store's records (those
// written by releases before the packed form) packed, in transactions of
// a few thousand records, each made durable like an append. A body is
// rewritten only if it is the canonical encoding its stored leaf hash is
// of and the packed body reads back as exactly that encoding, and only if
// it is still the same body when written (a record pruned meanwhile stays
// pruned): leaf hashes, checkpoints and proofs are unchanged, and damage
// is left for audit verify to find. It may run while the ledger serves
// (the appends wait for each transaction). With vacuum it then rebuilds
// the database file (SQLite's VACUUM), which gives the freed pages back to
// the file system; that needs about the file's size free, and holds the
// database's write lock throughout: it refuses ([InUseError]) while
// another process has the database open (on Unix systems, where it can
// tell; elsewhere stop the ledger first). progress, if
// not nil, gets the ids done out of the newest.
func (db *DB) Repack(ctx context.Context, vacuum bool, progress func(done, total int64)) (*RepackReport, error) {
	start := time.Now()
	if vacuum {
		if err := db.notInUse(); err != nil {
			return nil, err
		}
	}
	rep := &RepackReport{}
	if fi, err := os.Stat(db.path); err == nil {
		rep.FileBefore = fi.Size()
	}
	var newest int64
	if err := db.w.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM audit").Scan(&newest); err != nil {
		return nil, fmt.Errorf("sqlite: repack: %w", err)
	}
	type rewrite struct {
		id       int64
		old, new []byte
	}
	var last int64
	for {
		var todo []rewrite
		n := 0
		rows, err := db.w.QueryContext(ctx, "SELECT id, body, leaf FROM audit WHERE id > ? ORDER BY id LIMIT ?", last, repackChunk)
		if err != nil {
			return nil, fmt.Errorf("sqlite: repack: %w", err)
		}
		for rows.Next() {
			var id int64
			var body, leaf []byte
			if err := rows.Scan(&id, &body, &leaf); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: repack: %w", err)
			}
			n, last = n+1, id
			switch w, what := repackBody(body, leaf); what {
			case repackPruned:
				rep.Pruned++
			case repackPacked:
				rep.Packed++
			case repackDamaged:
				rep.Damaged++
			case repackKept:
				rep.KeptCanonical++
			default:
				todo = append(todo, rewrite{id, body, w})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: repack: %w", err)
		}
		rep.Records += int64(n)
		if len(todo) > 0 {
			tx, err := db.w.BeginTx(ctx, nil)
			if err != nil {
				return nil, fmt.Errorf("sqlite: repack: %w", err)
			}
			for _, w := range todo {
				res, err := tx.ExecContext(ctx, "UPDATE audit SET body = ? WHERE id = ? AND body = ?", w.new, w.id, w.old)
				if err != nil {
					tx.Rollback()
					return nil, fmt.Errorf("sqlite: repack: %w", err)
				}
				if k, _ := res.RowsAffected(); k == 1 {
					rep.Repacked++
					rep.BytesBefore += int64(len(w.old))
					rep.BytesAfter += int64(len(w.new))
				}
			}
			if err := tx.Commit(); err != nil {
				return nil, fmt.Errorf("sqlite: repack: %w", err)
			}
			if err := db.wal.sync(false); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(min(last, newest), newest)
		}
		if n < repackChunk {
			break
		}
	}
	if vacuum {
		if err := db.notInUse(); err != nil { // it may have started meanwhile
			return nil, err
		}
		// VACUUM goes through the log; the checkpoint moves it into the
		// file and truncates it, so that the file has its new size before
		// the identity check of the next sync.
		for _, q := range []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
			if _, err := db.w.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("sqlite: repack: vacuum: %w (hint: it needs about the database's size free next to it, and no other process using the ledger)", err)
			}
		}
		if err := db.wal.shrunk(); err != nil {
			return nil, err
		}
		if err := db.wal.sync(false); err != nil {
			return nil, err
		}
		rep.Vacuumed = true
	}
	if fi, err := os.Stat(db.path); err == nil {
		rep.FileAfter = fi.Size()
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// ErrInUse is returned by Repack with vacuum while another process has
// the database open.
var ErrInUse = errors.New("another process has the ledger open")

// InUseError says which process has the database open.
type InUseError struct{ PID int }

func (e *InUseError) Error() string {
	return fmt.Sprintf("another process (pid %d) has the ledger open: stop it first (the rebuilt, smaller file would look truncated to it, and it would stop appending)", e.PID)
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// notInUse fails with an [InUseError] while another process has the
// database open.
func (db *DB) notInUse() error {
	pid, err := otherOpener(db.path)
	if err != nil {
		return fmt.Errorf("sqlite: repack: check for other processes: %w", err)
	}
	if pid != 0 {
		return &InUseError{PID: pid}
	}
	return nil
}

// CheckLedger fails unless path is a jwtledger database: it opens it
// read-only (never creating or changing a file) and reads the ledger's
// id, so that a command on an existing ledger does not make one of an
// empty or foreign file.
func CheckLedger(ctx context.Context, path string) error {
	raw, err := sql.Open("sqlite3", readOnlyDSN(path, 5000))
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer raw.Close()
	var id []byte
	if err := raw.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = 'ledger_id'").Scan(&id); err != nil || len(id) == 0 {
		return fmt.Errorf("sqlite: %s is not a jwtledger ledger (no ledger id in it)", path)
	}
	return nil
}

// What repackBody makes of a stored body.
const (
	repackRewrite = iota
	repackPruned
	repackPacked
	repackDamaged
	repackKept
)

// repackBody returns the packed body to store instead of body, whose leaf
// hash is leaf, and repackRewrite; or what keeps body as it is.
func repackBody(body, leaf []byte) ([]byte, int) {
	switch {
	case len(body) == 0:
		return nil, repackPruned
	case packed.IsPacked(body):
		// Damage is counted in both forms: a packed body that does not
		// parse, or is not the encoding its leaf is of.
		c, err := packed.Canonical(nil, body)
		if h := auditor.LeafHash(c); err != nil || !bytes.Equal(h[:], leaf) {
			return nil, repackDamaged
		}
		return nil, repackPacked
	}
	r, err := auditor.Decode(body)
	if h := auditor.LeafHash(body); err != nil || !bytes.Equal(h[:], leaf) {
		return nil, repackDamaged
	}
	p := packed.Append(nil, r, body)
	if !packed.IsPacked(p) || !bytes.Equal(packed.Encoding(nil, p), body) {
		return nil, repackKept
	}
	return p, repackRewrite
}
