//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// AddClient stores c and appends recs in the same transaction.
func (db *DB) AddClient(ctx context.Context, c store.ClientRow, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO clients (id, name, secret_hash, scopes, policy, created) VALUES (?, ?, ?, ?, ?, ?)",
			c.ID, c.Name, c.SecretHash, c.Scopes, c.Policy, c.Created.UnixNano()); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return fmt.Errorf("client %s: %w", c.ID, store.ErrExists)
			}
			return fmt.Errorf("sqlite: add client: %w", err)
		}
		return db.clientsChangedTx(ctx, tx, chain, recs)
	})
}

// DeleteClient removes client id and appends recs in the same transaction.
func (db *DB) DeleteClient(ctx context.Context, id string, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM clients WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("sqlite: delete client: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("client %q: %w", id, store.ErrNotFound)
		}
		return db.clientsChangedTx(ctx, tx, chain, recs)
	})
}

// SetClientSecret replaces client id's secret hash and appends recs.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE clients SET secret_hash = ? WHERE id = ?", hash, id)
		if err != nil {
			return fmt.Errorf("sqlite: rotate client secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("client %q: %w", id, store.ErrNotFound)
		}
		return db.clientsChangedTx(ctx, tx, chain, recs)
	})
}

// clientsChangedTx marks the clients as changed (store.MetaClientsChanged)
// and appends recs, in tx.
func (db *DB) clientsChangedTx(ctx context.Context, tx *sql.Tx, chain string, recs []*audit.Record) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
		store.MetaClientsChanged, store.NewChangeMark()); err != nil {
		return fmt.Errorf("sqlite: mark clients changed: %w", err)
	}
	return db.appendTx(ctx, tx, chain, recs)
}

// Clients lists every client, oldest first.
func (db *DB) Clients(ctx context.Context) ([]store.ClientRow, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, name, secret_hash, scopes, policy, created FROM clients ORDER BY created, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	defer rows.Close()
	var out []store.ClientRow
	for rows.Next() {
		var c store.ClientRow
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Scopes, &c.Policy, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list clients: %w", err)
		}
		c.Created = time.Unix(0, created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevocationsSince returns revocations made after the given time (Unix ns)
// whose tokens have not expired before notExpiredAt.
func (db *DB) RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]store.Revocation, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT iss, jti, exp, revoked_at FROM revocations WHERE revoked_at > ? AND (exp = 0 OR exp >= ?)", since, notExpiredAt.Unix())
	if err != nil {
		return nil, fmt.Errorf("sqlite: read revocations: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var exp int64
		if err := rows.Scan(&r.Iss, &r.JTI, &exp, &r.RevokedAt); err != nil {
			return nil, fmt.Errorf("sqlite: read revocations: %w", err)
		}
		if exp != 0 {
			r.Exp = time.Unix(exp, 0)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
