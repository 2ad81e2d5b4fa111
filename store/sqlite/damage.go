//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger/store"
)

var _ store.Damageable = (*DB)(nil)

// IsDamage reports whether err is SQLite saying the file is damaged
// ("database disk image is malformed", "file is not a database").
func (db *DB) IsDamage(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.Code == sqlite3.ErrCorrupt || e.Code == sqlite3.ErrNotADB)
}

// CheckIntegrity runs SQLite's quick_check (every page and B-tree of the
// file, without cross-checking indexes against tables: about 1 s per
// 500 MB here) and returns a [store.DamageError] listing its findings.
func (db *DB) CheckIntegrity(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, "PRAGMA quick_check(20)")
	if err != nil {
		if db.IsDamage(err) {
			return &store.DamageError{Detail: err.Error()}
		}
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return &store.DamageError{Detail: err.Error()}
		}
		if line != "ok" {
			found = append(found, line)
		}
	}
	if err := rows.Err(); err != nil {
		if db.IsDamage(err) {
			return &store.DamageError{Detail: err.Error()}
		}
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	if len(found) > 0 {
		return &store.DamageError{Detail: strings.Join(found, "; ")}
	}
	return nil
}

// ScanChainFrom is ScanChain from seq from on (to read past damage).
func (db *DB) ScanChainFrom(ctx context.Context, chain string, from int64, fn func(seq int64, body, leaf []byte) error) error {
	rows, err := db.r.QueryContext(ctx, "SELECT seq, body, leaf FROM audit WHERE chain = ? AND seq >= ? ORDER BY seq", chain, from)
	if err != nil {
		return fmt.Errorf("sqlite: scan chain: %w", err)
	}
	defer rows.Close()
	var seq int64
	var body, leaf sql.RawBytes
	fn = canonical(fn)
	for rows.Next() {
		if err := rows.Scan(&seq, &body, &leaf); err != nil {
			return fmt.Errorf("sqlite: scan chain: %w", err)
		}
		if len(body) == 0 {
			body = nil
		}
		if err := fn(seq, body, leaf); err != nil {
			return err
		}
	}
	return rows.Err()
}
