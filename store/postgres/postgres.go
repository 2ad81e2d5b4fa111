// Package postgres is the shared store: several jwtledger nodes on one
// PostgreSQL database (github.com/jackc/pgx/v5). It has the logical schema
// of the SQLite store and passes the same conformance suite.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys (pg_advisory_xact_lock); chains lock on a hash of
// their name.
const (
	lockMigrate = 0x6a776c6d // "jwlm"
	lockKeys    = 0x6a776c6b // "jwlk"
)

// DB is an open PostgreSQL store.
type DB struct {
	pool    *pgxpool.Pool
	counter *store.Counter // keeps the aggregate counts (counts.go)
}

var (
	_ store.Backend    = (*DB)(nil)
	_ store.Maintainer = (*DB)(nil)
)

func init() {
	open := func(ctx context.Context, spec string, _ store.Options) (store.Backend, error) { return Open(ctx, spec) }
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// Capabilities says what the shared store does beyond [store.Store].
func (db *DB) Capabilities() store.Capabilities {
	return store.Capabilities{Prober: db, Watcher: db, Maintainer: db, Importer: db}
}

// Open connects to the database at dsn (postgres://...) and applies the
// embedded migrations, under an advisory lock so nodes starting together
// are safe.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool}
	db.counter = store.NewCounter(db)
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.Maintain(ctx, time.Now()); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// monthsAhead is how many months past the current one have their audit
// partition made in advance.
const monthsAhead = 2

// Maintain makes the monthly audit partitions from the current month to
// monthsAhead months ahead (idempotent; nodes call it at start and hourly).
func (db *DB) Maintain(ctx context.Context, now time.Time) error {
	m := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	for range monthsAhead + 1 {
		next := m.AddDate(0, 1, 0)
		name := fmt.Sprintf("audit_%04d_%02d", m.Year(), int(m.Month()))
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil || exists {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf("CREATE TABLE %s PARTITION OF audit FOR VALUES FROM (%d) TO (%d)", name, m.UnixNano(), next.UnixNano()))
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: make audit partition %s: %w", name, err)
		}
		m = next
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
			return fmt.Errorf("postgres: lock for migrations: %w (hint: is the database reachable and the user allowed to create tables?)", err)
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES (0)")
		}
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if version > len(names) {
			return fmt.Errorf("postgres: the database has schema version %d, newer than this jwtledger knows (%d); upgrade jwtledger", version, len(names))
		}
		for _, name := range names[version:] {
			b, err := migrations.ReadFile("migrations/" + name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(b)); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", name, err)
			}
		}
		_, err = tx.Exec(ctx, "UPDATE schema_version SET version = $1", len(names))
		return err
	})
}

// Close closes the pool.
func (db *DB) Close() error {
	db.counter.Close()
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, fn)
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func lockChain(ctx context.Context, tx pgx.Tx, chain string) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", chain); err != nil {
		return fmt.Errorf("postgres: lock chain: %w", err)
	}
	return nil
}

// Append stores recs as the next records of chain in one transaction.
func (db *DB) Append(ctx context.Context, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return appendTx(ctx, tx, chain, recs) })
}

// appendTx numbers recs after chain's head and inserts them in tx. Appends
// to one chain are serialized by an advisory lock held to the end of the
// transaction, so the head read here stays the head.
func appendTx(ctx context.Context, tx pgx.Tx, chain string, recs []*audit.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := lockChain(ctx, tx, chain); err != nil {
		return err
	}
	var head int64
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = $1", chain).Scan(&head); err != nil {
		return fmt.Errorf("postgres: read chain head: %w", err)
	}
	n := len(recs)
	seqs, times := make([]int64, n), make([]int64, n)
	events, outcomes, actors, subs, jtis := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	bodies, leaves := make([][]byte, n), make([][]byte, n)
	for i, r := range recs {
		head++
		r.Seq, r.Chain = uint64(head), chain
		r.Normalize()
		body := audit.Encode(nil, r)
		r.LeafHash = audit.LeafHash(body)
		seqs[i], times[i] = head, r.Time.UnixNano()
		events[i], outcomes[i], actors[i], subs[i], jtis[i] = string(r.Event), r.Outcome, r.Actor, r.Sub, r.JTI
		bodies[i], leaves[i] = body, r.LeafHash[:]
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit (chain, seq, time, event, outcome, actor, sub, jti, body, leaf)
		SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::bytea[])`,
		chain, seqs, times, events, outcomes, actors, subs, jtis, bodies, leaves)
	if err != nil {
		return fmt.Errorf("postgres: append audit records: %w", err)
	}
	return nil
}

// Query returns the records matching f, oldest first.
func (db *DB) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.Since.IsZero() {
		add("time >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UnixNano())
	}
	for _, c := range []struct{ col, v string }{{"chain", f.Chain}, {"event", string(f.Event)}, {"outcome", f.Outcome}, {"sub", f.Sub}, {"jti", f.JTI}, {"actor", f.Actor}} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	// kid and request_id are not columns: they read the body.
	for _, c := range []struct{ member, v string }{{"kid", f.KID}, {"request_id", f.RequestID}} {
		if c.v != "" {
			add("length(body) > 0 AND convert_from(body, 'UTF8')::jsonb ->> '"+c.member+"' = ?", c.v)
		}
	}
	if f.After > 0 {
		add("id > ?", f.After)
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	where = append(where, "length(body) > 0") // pruned records have no body to show
	q := "SELECT id, body FROM audit WHERE " + strings.Join(where, " AND ")
	if f.Newest {
		q += " ORDER BY id DESC"
	} else {
		q += " ORDER BY id"
	}
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query audit: %w", err)
	}
	defer rows.Close()
	var out []*audit.Record
	for rows.Next() {
		var id int64
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, fmt.Errorf("postgres: query audit: %w", err)
		}
		r, err := audit.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("postgres: record %d: %w", id, err)
		}
		r.ID = id
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query audit: %w", err)
	}
	if f.Newest {
		slices.Reverse(out)
	}
	return out, nil
}

// RecordBody returns the canonical encoding of record seq of chain.
func (db *DB) RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error) {
	var body []byte
	err := db.pool.QueryRow(ctx, "SELECT body FROM audit WHERE chain = $1 AND seq = $2", chain, seq).Scan(&body)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && len(body) == 0):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("postgres: read record: %w", err)
	}
	return body, nil
}

// ScanChain calls fn for every record of chain in seq order.
func (db *DB) ScanChain(ctx context.Context, chain string, fn func(seq int64, body, leaf []byte) error) error {
	return db.ScanChainTimes(ctx, chain, func(seq, _ int64, body, leaf []byte) error { return fn(seq, body, leaf) })
}

// ScanChainTimes is ScanChain with each record's time (Unix ns).
func (db *DB) ScanChainTimes(ctx context.Context, chain string, fn func(seq, time int64, body, leaf []byte) error) error {
	rows, err := db.pool.Query(ctx, "SELECT seq, time, body, leaf FROM audit WHERE chain = $1 ORDER BY seq", chain)
	if err != nil {
		return fmt.Errorf("postgres: scan chain: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, t int64
		var body, leaf []byte
		if err := rows.Scan(&seq, &t, &body, &leaf); err != nil {
			return fmt.Errorf("postgres: scan chain: %w", err)
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

// Chains lists the chains that have records.
func (db *DB) Chains(ctx context.Context) ([]string, error) {
	// A skip scan of the (chain, seq) index: one seek per chain, where
	// SELECT DISTINCT reads every entry.
	rows, err := db.pool.Query(ctx, `WITH RECURSIVE c(chain) AS (
		SELECT (SELECT chain FROM audit ORDER BY chain LIMIT 1)
		UNION ALL
		SELECT (SELECT chain FROM audit WHERE chain > c.chain ORDER BY chain LIMIT 1) FROM c WHERE c.chain IS NOT NULL
	) SELECT chain FROM c WHERE chain IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list chains: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list chains: %w", err)
	}
	return out, nil
}

// TreeSize is the number of records in chain.
func (db *DB) TreeSize(ctx context.Context, chain string) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = $1", chain).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: tree size: %w", err)
	}
	return n, nil
}

// Prune removes the bodies of chain's records with seq <= upTo and time
// before cut, 1,000 rows a transaction, keeping their leaf hashes.
func (db *DB) Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error) {
	var total int64
	for lo := int64(1); lo <= upTo; lo += 1000 {
		hi := min(lo+999, upTo)
		tag, err := db.pool.Exec(ctx, "UPDATE audit SET body = '' WHERE chain = $1 AND seq BETWEEN $2 AND $3 AND time < $4 AND length(body) > 0",
			chain, lo, hi, cut.UnixNano())
		if err != nil {
			return total, fmt.Errorf("postgres: prune: %w", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// Keys returns every managed key.
func (db *DB) Keys(ctx context.Context) ([]keys.Stored, error) {
	rows, err := db.pool.Query(ctx, "SELECT kid, alg, state, created, rotated, activates, public, sealed FROM keys ORDER BY created, kid")
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	defer rows.Close()
	var out []keys.Stored
	for rows.Next() {
		var k keys.Stored
		var alg, state string
		var created, rotated, activates int64
		if err := rows.Scan(&k.KID, &alg, &state, &created, &rotated, &activates, &k.Public, &k.Sealed); err != nil {
			return nil, fmt.Errorf("postgres: list keys: %w", err)
		}
		k.Alg, k.State = keys.Alg(alg), keys.State(state)
		k.Created = time.Unix(0, created).UTC()
		if rotated != 0 {
			k.Rotated = time.Unix(0, rotated).UTC()
		}
		if activates != 0 {
			k.Activates = time.Unix(0, activates).UTC()
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddKey stores k (see store.Store); key changes are serialized across
// nodes by an advisory lock.
func (db *DB) AddKey(ctx context.Context, k keys.Stored, demote, ifEmpty bool, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKeys); err != nil {
			return fmt.Errorf("postgres: lock keys: %w", err)
		}
		if ifEmpty {
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM keys").Scan(&n); err != nil {
				return fmt.Errorf("postgres: count keys: %w", err)
			}
			if n > 0 {
				return store.ErrExists
			}
		}
		if !k.Activates.IsZero() {
			var n int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM keys WHERE state = 'verify-only' AND activates > 0").Scan(&n); err != nil {
				return fmt.Errorf("postgres: count pending keys: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("a pre-published key: %w", store.ErrExists)
			}
		}
		if demote {
			if _, err := tx.Exec(ctx, "UPDATE keys SET state = 'verify-only', rotated = $1 WHERE state = 'active'", k.Created.UnixNano()); err != nil {
				return fmt.Errorf("postgres: demote keys: %w", err)
			}
		}
		var activates int64
		if !k.Activates.IsZero() {
			activates = k.Activates.UnixNano()
		}
		if _, err := tx.Exec(ctx, "INSERT INTO keys (kid, alg, state, created, activates, public, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			k.KID, string(k.Alg), string(k.State), k.Created.UnixNano(), activates, k.Public, k.Sealed); err != nil {
			if isUnique(err) {
				return fmt.Errorf("key %s: %w", k.KID, store.ErrExists)
			}
			return fmt.Errorf("postgres: add key: %w", err)
		}
		if err := notify(ctx, tx, store.TopicKeys); err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
		return appendTx(ctx, tx, chain, recs)
	})
}

// SetKeyState changes the state of key kid.
func (db *DB) SetKeyState(ctx context.Context, kid string, state keys.State, at time.Time, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE keys SET state = $1, rotated = CASE WHEN rotated = 0 THEN $2 ELSE rotated END WHERE kid = $3", string(state), at.UnixNano(), kid)
		if err != nil {
			return fmt.Errorf("postgres: set key state: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("key %q: %w", kid, store.ErrNotFound)
		}
		if err := notify(ctx, tx, store.TopicKeys); err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
		return appendTx(ctx, tx, chain, recs)
	})
}

// PromoteKey makes the pre-published key kid the active one; exactly one
// node succeeds, the others get store.ErrNotFound.
func (db *DB) PromoteKey(ctx context.Context, kid string, at time.Time, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKeys); err != nil {
			return fmt.Errorf("postgres: lock keys: %w", err)
		}
		tag, err := tx.Exec(ctx, "UPDATE keys SET state = 'active', activates = 0 WHERE kid = $1 AND state = 'verify-only' AND activates > 0", kid)
		if err != nil {
			return fmt.Errorf("postgres: promote key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pending key %q: %w", kid, store.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, "UPDATE keys SET state = 'verify-only', rotated = $1 WHERE state = 'active' AND kid <> $2", at.UnixNano(), kid); err != nil {
			return fmt.Errorf("postgres: demote keys: %w", err)
		}
		if err := notify(ctx, tx, store.TopicKeys); err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
		return appendTx(ctx, tx, chain, recs)
	})
}

// Revoke records the revocation of (iss, jti).
func (db *DB) Revoke(ctx context.Context, iss, jti string, exp, at time.Time, chain string, recs []*audit.Record) (already bool, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var e int64
		if !exp.IsZero() {
			e = exp.Unix()
		}
		tag, err := tx.Exec(ctx, "INSERT INTO revocations (iss, jti, exp, revoked_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", iss, jti, e, at.UnixNano())
		if err != nil {
			return fmt.Errorf("postgres: revoke: %w", err)
		}
		already = tag.RowsAffected() == 0
		if err := notify(ctx, tx, store.TopicRevocations); err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
		return appendTx(ctx, tx, chain, recs)
	})
	return already, err
}

// RevocationsSince returns revocations made after since (Unix ns) whose
// tokens have not expired before notExpiredAt.
func (db *DB) RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]store.Revocation, error) {
	rows, err := db.pool.Query(ctx, "SELECT iss, jti, exp, revoked_at FROM revocations WHERE revoked_at > $1 AND (exp = 0 OR exp >= $2)", since, notExpiredAt.Unix())
	if err != nil {
		return nil, fmt.Errorf("postgres: read revocations: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var exp int64
		if err := rows.Scan(&r.Iss, &r.JTI, &exp, &r.RevokedAt); err != nil {
			return nil, fmt.Errorf("postgres: read revocations: %w", err)
		}
		if exp != 0 {
			r.Exp = time.Unix(exp, 0)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Clients returns every API client.
func (db *DB) Clients(ctx context.Context) ([]store.ClientRow, error) {
	rows, err := db.pool.Query(ctx, "SELECT id, name, secret_hash, scopes, policy, created FROM clients ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	defer rows.Close()
	var out []store.ClientRow
	for rows.Next() {
		var c store.ClientRow
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Scopes, &c.Policy, &created); err != nil {
			return nil, fmt.Errorf("postgres: list clients: %w", err)
		}
		c.Created = time.Unix(0, created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddClient stores c.
func (db *DB) AddClient(ctx context.Context, c store.ClientRow, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO clients (id, name, secret_hash, scopes, policy, created) VALUES ($1, $2, $3, $4, $5, $6)",
			c.ID, c.Name, c.SecretHash, c.Scopes, c.Policy, c.Created.UnixNano()); err != nil {
			if isUnique(err) {
				return fmt.Errorf("client %s: %w", c.ID, store.ErrExists)
			}
			return fmt.Errorf("postgres: add client: %w", err)
		}
		return clientsChangedTx(ctx, tx, chain, recs)
	})
}

// DeleteClient removes client id.
func (db *DB) DeleteClient(ctx context.Context, id string, chain string, recs []*audit.Record) error {
	return db.changeClient(ctx, "DELETE FROM clients WHERE id = $1", []any{id}, id, chain, recs)
}

// SetClientSecret replaces the secret hash of client id.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, chain string, recs []*audit.Record) error {
	return db.changeClient(ctx, "UPDATE clients SET secret_hash = $2 WHERE id = $1", []any{id, hash}, id, chain, recs)
}

func (db *DB) changeClient(ctx context.Context, q string, args []any, id, chain string, recs []*audit.Record) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("postgres: change client: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("client %q: %w", id, store.ErrNotFound)
		}
		return clientsChangedTx(ctx, tx, chain, recs)
	})
}

// clientsChangedTx marks the clients as changed (store.MetaClientsChanged),
// notifies the other nodes at commit and appends recs, in tx.
func clientsChangedTx(ctx context.Context, tx pgx.Tx, chain string, recs []*audit.Record) error {
	if _, err := tx.Exec(ctx, "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
		store.MetaClientsChanged, store.NewChangeMark()); err != nil {
		return fmt.Errorf("postgres: mark clients changed: %w", err)
	}
	if err := notify(ctx, tx, store.TopicClients); err != nil {
		return fmt.Errorf("postgres: notify: %w", err)
	}
	return appendTx(ctx, tx, chain, recs)
}

// Meta reads a ledger-wide setting.
func (db *DB) Meta(ctx context.Context, name string) (value []byte, ok bool, err error) {
	err = db.pool.QueryRow(ctx, "SELECT value FROM meta WHERE name = $1", name).Scan(&value)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("postgres: read %s: %w", name, err)
	}
	return value, true, nil
}

// SetMetaOnce stores value under name unless one is stored, and returns
// the stored one.
func (db *DB) SetMetaOnce(ctx context.Context, name string, value []byte) ([]byte, error) {
	var out []byte
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", name, value); err != nil {
			return fmt.Errorf("postgres: store %s: %w", name, err)
		}
		return tx.QueryRow(ctx, "SELECT value FROM meta WHERE name = $1", name).Scan(&out)
	})
	return out, err
}
