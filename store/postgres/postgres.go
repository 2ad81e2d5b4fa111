// Package postgres is the shared store: several jwtledger nodes on one
// PostgreSQL database (github.com/jackc/pgx/v5). It has the logical schema
// of the SQLite store and passes the same conformance suite.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
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
	pool  *pgxpool.Pool
	reads // the shared reads (tables.go), and the aggregate counts
}

var (
	_ store.Backend    = (*DB)(nil)
	_ store.Maintainer = (*DB)(nil)
)

func init() {
	open := func(ctx context.Context, spec string, o store.Options) (store.Backend, error) {
		return Open(ctx, spec, Options{AuditIndex: o.AuditIndex})
	}
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// Capabilities says what the shared store does beyond [store.Store].
func (db *DB) Capabilities() store.Capabilities {
	c := store.Capabilities{Prober: db, Watcher: db, Maintainer: db, Importer: db, Cosignatures: db, Ranges: db}
	if db.Indexer != nil {
		c.Index = db
	}
	return c
}

// Options are the settings of [Open].
type Options struct {
	// AuditIndex keeps the audit index (store.Options.AuditIndex): off, no
	// follower runs and queries read the audit table and its indexes.
	AuditIndex bool
}

// Open connects to the database at dsn (postgres://...) and applies the
// embedded migrations, under an advisory lock so nodes starting together
// are safe.
func Open(ctx context.Context, dsn string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool}
	db.reads = reads{D: dialect, Q: conn{pool}, Counter: tables.NewCounter(db)}
	if o.AuditIndex {
		db.Indexer = tables.NewIndexer(db)
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.Maintain(ctx, time.Now()); err != nil {
		pool.Close()
		return nil, err
	}
	// The lower levels older versions also kept in tree_hashes (once).
	if _, err := dialect.DropOlderTreeRows(ctx, conn{pool}, func(fn func(tables.Querier) error) error {
		return db.inTx(ctx, func(tx pgx.Tx) error { return fn(conn{tx}) })
	}); err != nil {
		pool.Close()
		return nil, err
	}
	if db.Indexer != nil && startIndexer {
		db.Indexer.Start(ctx)
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
	names, err := tables.Migrations(migrations, "migrations")
	if err != nil {
		return err
	}
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
	db.Counter.Close()
	db.Indexer.Close()
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

// commitTimeout bounds one Append, connecting included. A database that
// stops answering without closing the connection (its machine gone from
// the network, a primary failing over) would otherwise hold the commit
// until TCP gives up, minutes later, and with it every caller waiting for
// the batch; past the timeout the commit fails with an unknown outcome,
// which the audit writer never acknowledges.
const commitTimeout = 5 * time.Second

// Append stores recs as the next records of chain in one transaction,
// within commitTimeout.
func (db *DB) Append(ctx context.Context, chain string, recs []*audit.Record) error {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	err := db.inTx(ctx, func(tx pgx.Tx) error { return appendTx(ctx, tx, chain, recs) })
	if err == nil {
		db.Counter.Fed(chain, recs)
	}
	return err
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
	bodies, leaves := tables.Seal(chain, uint64(head), recs), make([][]byte, n)
	for i, r := range recs {
		seqs[i], times[i] = int64(r.Seq), r.Time.UnixNano()
		events[i], outcomes[i], actors[i], subs[i], jtis[i] = string(r.Event), r.Outcome, r.Actor, r.Sub, r.JTI
		leaves[i] = r.LeafHash[:]
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit (chain, seq, time, event, outcome, actor, sub, jti, body, leaf)
		SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::bytea[])`,
		chain, seqs, times, events, outcomes, actors, subs, jtis, bodies, leaves)
	if err != nil {
		return fmt.Errorf("postgres: append audit records: %w", err)
	}
	return nil
}
