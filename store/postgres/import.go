package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
)

var _ store.Importer = (*DB)(nil)

// Empty reports whether the database holds no keys, clients, records or
// settings yet.
func (db *DB) Empty(ctx context.Context) (bool, error) {
	var any bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keys) OR EXISTS (SELECT 1 FROM clients)
		OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM meta) OR EXISTS (SELECT 1 FROM revocations)`).Scan(&any)
	if err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return !any, nil
}

// ImportMeta stores settings copied from another store.
func (db *DB) ImportMeta(ctx context.Context, meta map[string][]byte) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for name, v := range meta {
			if _, err := tx.Exec(ctx, "INSERT INTO meta (name, value) VALUES ($1, $2)", name, v); err != nil {
				return fmt.Errorf("postgres: import setting %s: %w", name, err)
			}
		}
		return nil
	})
}

func nsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// ImportKeys stores keys copied from another store, states included.
func (db *DB) ImportKeys(ctx context.Context, ks []keys.Stored) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for _, k := range ks {
			if _, err := tx.Exec(ctx, "INSERT INTO keys (kid, alg, state, created, rotated, activates, public, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				k.KID, string(k.Alg), string(k.State), k.Created.UnixNano(), nsOrZero(k.Rotated), nsOrZero(k.Activates), k.Public, k.Sealed); err != nil {
				return fmt.Errorf("postgres: import key %s: %w", k.KID, err)
			}
		}
		return nil
	})
}

// ImportClients stores clients copied from another store.
func (db *DB) ImportClients(ctx context.Context, cs []store.ClientRow) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for _, c := range cs {
			if _, err := tx.Exec(ctx, "INSERT INTO clients (id, name, secret_hash, scopes, policy, created) VALUES ($1, $2, $3, $4, $5, $6)",
				c.ID, c.Name, c.SecretHash, c.Scopes, c.Policy, c.Created.UnixNano()); err != nil {
				return fmt.Errorf("postgres: import client %s: %w", c.ID, err)
			}
		}
		return nil
	})
}

// ImportRevocations stores revocations copied from another store.
func (db *DB) ImportRevocations(ctx context.Context, rs []store.Revocation) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for _, r := range rs {
			var exp int64
			if !r.Exp.IsZero() {
				exp = r.Exp.Unix()
			}
			if _, err := tx.Exec(ctx, "INSERT INTO revocations (iss, jti, exp, revoked_at) VALUES ($1, $2, $3, $4)", r.Iss, r.JTI, exp, r.RevokedAt); err != nil {
				return fmt.Errorf("postgres: import revocation: %w", err)
			}
		}
		return nil
	})
}

// ImportRecords appends recs verbatim, in seq order, right after chain's
// head (checked), with COPY.
func (db *DB) ImportRecords(ctx context.Context, chain string, recs []store.RawRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockChain(ctx, tx, chain); err != nil {
			return err
		}
		var head int64
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = $1", chain).Scan(&head); err != nil {
			return fmt.Errorf("postgres: read chain head: %w", err)
		}
		rows := make([][]any, len(recs))
		for i, r := range recs {
			if r.Seq != head+int64(i)+1 {
				return fmt.Errorf("postgres: import into chain %q: record %d follows %d", chain, r.Seq, head+int64(i))
			}
			var event, outcome, actor, sub, jti string
			if len(r.Body) > 0 {
				rec, err := audit.Decode(r.Body)
				if err != nil {
					return fmt.Errorf("postgres: import record %d of chain %q: %w", r.Seq, chain, err)
				}
				event, outcome, actor, sub, jti = string(rec.Event), rec.Outcome, rec.Actor, rec.Sub, rec.JTI
			}
			body := r.Body
			if body == nil {
				body = []byte{}
			}
			rows[i] = []any{chain, r.Seq, r.Time, event, outcome, actor, sub, jti, body, r.Leaf}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit"}, []string{"chain", "seq", "time", "event", "outcome", "actor", "sub", "jti", "body", "leaf"},
			pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("postgres: import records of chain %q: %w", chain, err)
		}
		return nil
	})
}

// ImportCheckpoints stores signed checkpoints copied from another store.
func (db *DB) ImportCheckpoints(ctx context.Context, cps []store.Checkpoint) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		for _, c := range cps {
			if _, err := tx.Exec(ctx, "INSERT INTO checkpoints (chain, size, root, note, time) VALUES ($1, $2, $3, $4, $5)",
				c.Chain, c.Size, c.Root[:], c.Note, c.Time.UnixNano()); err != nil {
				return fmt.Errorf("postgres: import checkpoint: %w", err)
			}
		}
		return nil
	})
}
