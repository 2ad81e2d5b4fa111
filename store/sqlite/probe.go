//go:build cgo

package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

var (
	_ store.Prober  = (*DB)(nil)
	_ store.Rescuer = (*DB)(nil)
)

// DefaultMinFree is the free space below which [DB.Probe] reports
// [store.ErrLowSpace]: 1 MiB, a few seconds of audit records at full load
// and room for SQLite to finish a checkpoint.
const DefaultMinFree = 1 << 20

// CheckLive checks, without writing, that the database file and its log
// at their paths are the ones opened (an [store.IdentityError] if not) and
// that their file system has room (store.ErrLowSpace): a stat and a statfs.
func (db *DB) CheckLive(context.Context) error {
	if err := db.wal.verify(); err != nil {
		return err
	}
	if min := db.minFree; min > 0 {
		if free, ok := freeSpace(filepath.Dir(db.path)); ok && free < min {
			return fmt.Errorf("%w: %d bytes free next to %s, below the reserve of %d", store.ErrLowSpace, free, db.path, min)
		}
	}
	return nil
}

// Probe checks that the database is still the file that was opened, that
// its file system has room, and that a write becomes durable (a meta row
// updated and the log synced); then it reads the ledger id and the head of
// chain through a new read-only connection, which sees the file as it is
// on disk now (the store's own connections may hold pages of a file
// overwritten in place).
func (db *DB) Probe(ctx context.Context, chain string) (ledgerID string, head int64, err error) {
	if err := db.CheckLive(ctx); err != nil {
		return "", 0, err
	}
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO meta (name, value) VALUES ('probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", []byte(now))
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("sqlite: probe write: %w", err)
	}
	fresh, err := sql.Open("sqlite3", readOnlyDSN(db.path, 2000))
	if err != nil {
		return "", 0, fmt.Errorf("sqlite: probe read: %w", err)
	}
	defer fresh.Close()
	var id []byte
	switch err := fresh.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = 'ledger_id'").Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return "", 0, fmt.Errorf("sqlite: probe read: %w", err)
	}
	if err := fresh.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = ?", chain).Scan(&head); err != nil {
		return "", 0, fmt.Errorf("sqlite: probe read: %w", err)
	}
	// The files may have changed while we read.
	if err := db.wal.verify(); err != nil {
		return "", 0, err
	}
	return string(id), head, nil
}

// Rescue saves what the open database holds after its file was deleted or
// replaced: through the connection that still has the old file open, an
// audit.undelivered record is appended to chain for every batch of
// undelivered that the file holds, then VACUUM INTO writes a consistent
// copy of it, write-ahead log included, to dst. The lost file's log and
// its index are then renamed (PATH-wal.lost-TIME), so that moving dst into
// place is all a restart needs.
func (db *DB) Rescue(ctx context.Context, dst, chain string, undelivered []audit.Range) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: rescue: %w", err)
	}
	defer conn.Close()
	leafAt := func(seq uint64) []byte {
		var leaf []byte
		conn.QueryRowContext(ctx, "SELECT leaf FROM audit WHERE chain = ? AND seq = ?", chain, int64(seq)).Scan(&leaf)
		return leaf
	}
	var recs []*audit.Record
	for _, r := range undelivered {
		if bytes.Equal(leafAt(r.First), r.FirstLeaf[:]) && bytes.Equal(leafAt(r.Last), r.LastLeaf[:]) {
			recs = append(recs, audit.UndeliveredRecord(r, time.Now()))
		}
	}
	if len(recs) > 0 {
		var head uint64
		if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = ?", chain).Scan(&head); err != nil {
			return fmt.Errorf("sqlite: rescue: %w", err)
		}
		args := db.encodeRecs(chain, head, recs)
		row := "(?" + strings.Repeat(",?", auditParams-1) + ")"
		q := "INSERT INTO audit (" + auditColumns + ") VALUES " + row + strings.Repeat(","+row, len(recs)-1)
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("sqlite: rescue: append: %w", err)
		}
	}
	// The copy holds sealed keys and the ledger: private from the start
	// (VACUUM INTO writes into an empty file).
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: rescue: %w", err)
	}
	f.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("sqlite: rescue: copy to %s: %w", dst, err)
	}
	// The copy holds what the lost file's log held; that log must not be
	// replayed onto the copy once it is moved into place.
	return db.wal.setAside(".lost-" + time.Now().UTC().Format("20060102T150405Z"))
}

// readOnlyDSN opens the database at path read-only (mode=ro: never
// creating a file where the database was), waiting up to busyMs.
func readOnlyDSN(path string, busyMs int) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_busy_timeout=" + strconv.Itoa(busyMs)
}
