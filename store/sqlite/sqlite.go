//go:build cgo

// Package sqlite is the embedded store: one SQLite file in WAL mode whose
// log is synced after every write transaction (see walSync), so a committed
// audit batch survives power loss.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Backend = (*DB)(nil)

// Capabilities says what the embedded store does beyond [store.Store].
func (db *DB) Capabilities() store.Capabilities {
	c := store.Capabilities{Prober: db, Rescuer: db, Damage: db, Cosignatures: db, Ranges: db}
	if db.Indexer != nil {
		c.Index = db
	}
	return c
}

// DB is an open SQLite store.
type DB struct {
	path string
	w    *sql.DB // one connection: in-process writers queue in Go, not in SQLite's busy loop
	r    *sql.DB

	head       *sql.Stmt
	insertRec  *multiInsert // the transaction path's rows
	rawRec     rawInsert    // the autocommit path's (append.go)
	insertHash *multiInsert
	readHash   *sql.Stmt

	// The index file (indexfile.go), with the index on: its write
	// connection, and the query pool that attaches it to the database.
	iw, ir       *sql.DB
	indexRebuilt string
	insertIndex  *sql.Stmt // rows into audit_index, on iw

	headMu sync.Mutex
	heads  map[string]uint64 // chain heads as of this process's last commit
	staged []stagedHead      // heads of the open write transaction

	stagedRecent []stagedRecs // records of the open write transaction
	recent       recent       // records appended lately, for the indexer
	leaves       leafCache    // leaf hashes appended lately, for the tree builder

	wal     *walSync
	minFree int64 // see Options.MinFree

	reads // the shared reads (tables.go), and the aggregate counts

	treeSize *sql.Stmt
	setSize  *sql.Stmt

	// Connections of ScanChainRange (scan.go), kept for the next range.
	scans        chan *scanConn
	scansMu      sync.Mutex
	scansClosed  bool
	scanByDriver bool // tests: ScanChainRange reads the driver's rows
}

var _ audit.Store = (*DB)(nil)

// autoCheckpointPages is the log size (pages) at which the commit that
// crosses it also checkpoints the log into the database file: SQLite's
// default of 1000 pages (4 MiB) made every such commit copy and sync 4 MiB
// while every audit batch waited, the soak's throughput dips (one second
// in 120 below 70% of the median, each with iowait spikes; appends over
// 5 ms in BenchmarkAppendStalls: 89-93 at 1000 pages, 44-46 at 500, 1-18
// at 250; 100 pages cost 23% of the throughput).
var autoCheckpointPages = 250

// chunk is how many rows one multi-row INSERT carries at most.
const chunk = 64

const (
	auditColumns = "chain, seq, time, body, leaf"
	auditParams  = 5
)

// Options are the settings of an embedded store. The zero value is the
// default.
type Options struct {
	// RawSync makes the audit append sync the write-ahead log with a raw
	// system call (fdatasync, Linux) that keeps the goroutine's Go
	// processor instead of queueing for one afterwards: faster whenever
	// the process runs more than one Go processor, and what the registered
	// "sqlite" opener sets when GOMAXPROCS > 1. A garbage collection
	// that starts during a sync waits for it (on a stalled disk, the
	// whole process does).
	RawSync bool
	// MinFree is the free space, in bytes, the file system must keep for
	// [DB.Probe] to pass: 0 means [DefaultMinFree], negative no check.
	MinFree int64
	// AuditIndex keeps the audit index (store.Options.AuditIndex): off, no
	// follower runs, the records appended are not kept for it and queries
	// scan the audit table.
	AuditIndex bool
}

// The registered opener ("sqlite:PATH" in [jwtledger.Config].Store, and
// the default store) syncs the log with the raw system call whenever the
// process runs more than one Go processor. Measured in the library
// (BenchmarkIssue and BenchmarkVerify, ES256, 64 callers, GOMAXPROCS=2 on
// 2 CPUs, 2026-12-08): a commit of ~30 records took 0.90 ms with the
// scheduled sync, 0.53 ms of it the sync, most of that waiting for a
// processor afterwards (an idle fdatasync here takes 0.11 ms), and 0.48 ms
// with the raw one; paired, audited issue throughput 1.26x, verify 1.22x
// (docs/performance.md, "Stop 25: the raw log sync in the library"). With
// one processor, a held processor would stop every goroutine for the
// sync: not then. GOMAXPROCS is read when the store is opened.
func init() {
	store.Register("sqlite", func(ctx context.Context, spec string, so store.Options) (store.Backend, error) {
		return Opener(Options{RawSync: runtime.GOMAXPROCS(0) > 1})(ctx, spec, so)
	})
}

// Opener opens "sqlite:PATH" specs with o (what the package registers for
// the scheme "sqlite" is Opener(Options{})); o.MinFree, when zero, is the
// ledger's (Config.MinFreeSpace).
func Opener(o Options) store.Opener {
	return func(ctx context.Context, spec string, so store.Options) (store.Backend, error) {
		path := store.FilePath(spec, so.DataDir)
		if path == "" {
			return nil, fmt.Errorf("sqlite: not a SQLite store spec (want sqlite:PATH)")
		}
		if o.MinFree == 0 {
			o.MinFree = so.MinFree
		}
		o.AuditIndex = o.AuditIndex || so.AuditIndex
		return Open(ctx, path, o)
	}
}

// Open opens (creating if needed) the database at path and applies the
// embedded migrations.
func Open(ctx context.Context, path string, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
	}
	// Create the file ourselves so it is private from the start: it holds
	// sealed keys and the audit ledger. SQLite gives -wal and -shm the
	// same mode.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	// NORMAL, and every write transaction is followed by an fdatasync of
	// the write-ahead log (see walSync): as durable as FULL.
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: path, w: w, heads: make(map[string]uint64), scans: make(chan *scanConn, 4), wal: &walSync{path: path + "-wal", dbPath: path, raw: o.RawSync}}
	db.minFree = o.MinFree
	if o.MinFree == 0 {
		db.minFree = DefaultMinFree
	}
	db.reads = reads{D: dialect, Counter: tables.NewCounter(db)}
	if o.AuditIndex {
		db.Indexer = tables.NewIndexer(db)
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db.r = r
	db.Q = querier{r}
	if db.Indexer != nil {
		if err := db.openIndexFile(ctx, dsn); err != nil {
			db.Close()
			return nil, err
		}
		db.IQ = querier{db.ir}
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.wal.identify(); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_autocheckpoint = "+strconv.Itoa(autoCheckpointPages)); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The leaf hashes older versions also kept in tree_hashes (once).
	if _, err := dialect.DropOlderTreeRows(ctx, querier{db.w}, func(fn func(tables.Querier) error) error {
		return db.inTx(ctx, func(tx *sql.Tx) error { return fn(querier{tx}) })
	}); err != nil {
		db.Close()
		return nil, err
	}
	if db.Indexer != nil && startIndexer {
		db.Indexer.Start(ctx)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	var version int
	if err := db.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		hint := "the store must be a SQLite database that this user can read and write, in a writable directory"
		if free, ok := freeSpace(filepath.Dir(db.path)); ok && free < DefaultMinFree {
			// Opening writes (the log and its index): SQLite says "disk
			// I/O error" or "database or disk is full".
			hint = fmt.Sprintf("the file system is full: %d bytes free next to %s; free space there", free, db.path)
		}
		return fmt.Errorf("sqlite: open %s: %w (hint: %s)", db.path, err, hint)
	}
	names, err := tables.Migrations(migrations, "migrations")
	if err != nil {
		return err
	}
	if version > len(names) {
		return fmt.Errorf("sqlite: %s has schema version %d, newer than this jwtledger knows (%d); upgrade jwtledger", db.path, version, len(names))
	}
	if version == len(names) {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w (hint: is the file and its directory writable?)", db.path, err)
	}
	defer tx.Rollback()
	// Another process may have migrated while we waited for the lock.
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile("migrations/" + names[i])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(names))); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w (hint: is the file and its directory writable?)", db.path, err)
	}
	return db.wal.sync(false)
}

func (db *DB) prepare(ctx context.Context) error {
	var err error
	if db.insertRec, err = prepareMulti(ctx, db.w, "audit", auditColumns, auditParams); err != nil {
		return err
	}
	if db.insertHash, err = prepareMulti(ctx, db.w, "tree_hashes", "chain, idx, hash", 3); err != nil {
		return err
	}
	stmts := []struct {
		dst   **sql.Stmt
		on    *sql.DB
		query string
	}{
		{&db.head, db.w, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = ?"},
		{&db.readHash, db.w, "SELECT hash FROM tree_hashes WHERE chain = ? AND idx = ?"},
		{&db.treeSize, db.w, "SELECT size FROM tree_size WHERE chain = ?"},
		{&db.setSize, db.w, "INSERT INTO tree_size (chain, size) VALUES (?, ?) ON CONFLICT (chain) DO UPDATE SET size = excluded.size"},
	}
	if db.iw != nil {
		stmts = append(stmts, struct {
			dst   **sql.Stmt
			on    *sql.DB
			query string
		}{&db.insertIndex, db.iw, insertIndexSQL})
	}
	for _, s := range stmts {
		st, err := s.on.PrepareContext(ctx, s.query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*s.dst = st
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.Counter.Close()
	db.Indexer.Close()
	db.closeScanConns()
	var errs []error
	for _, s := range []*sql.Stmt{db.head, db.readHash, db.treeSize, db.setSize, db.insertIndex} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	db.rawRec.close()
	for _, m := range []*multiInsert{db.insertRec, db.insertHash} {
		if m != nil {
			m.close()
		}
	}
	for _, p := range []*sql.DB{db.r, db.ir, db.iw} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	errs = append(errs, db.w.Close(), db.wal.close())
	return errors.Join(errs...)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.w.PingContext(ctx) }

// Append stores recs as the next records of chain in one transaction.
//
// A batch of up to chunk records is one multi-row INSERT run in SQLite's
// autocommit mode: the statement is its own transaction, so inserting and
// committing are one call into SQLite (the log is then synced by walSync).
// Every call into SQLite
// that blocks long enough makes the Go scheduler hand the goroutine's
// processor to other goroutines, and under load the returning goroutine
// then waits behind the runnable ones: one call per batch instead of three
// (BEGIN, INSERT, COMMIT) measured 0.74-0.77 of the baseline's issue
// throughput instead of 0.69.
//
// The chain head is remembered from this process's last commit instead of
// being read in every transaction. Another process appending to the same
// chain (a CLI next to a server on one data directory) makes the first
// sequence number collide with the UNIQUE (chain, seq) key: the transaction
// is rolled back and retried once with the head read from the database, so
// sequences stay gapless and unique.
func (db *DB) Append(ctx context.Context, chain string, recs []*audit.Record) error {
	if err := db.wal.lostErr(); err != nil {
		return err
	}
	err := db.append(ctx, chain, recs)
	if err == nil {
		db.leaves.add(chain, recs)
		db.Counter.Fed(chain, recs)
	}
	return err
}

func (db *DB) append(ctx context.Context, chain string, recs []*audit.Record) error {
	if n := len(recs); n > 0 && n <= chunk {
		if done, err := db.appendAutocommit(ctx, chain, recs); done {
			return err
		}
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error { return db.appendRecs(ctx, tx, chain, recs, true) })
	if isConstraint(err) {
		err = db.inTx(ctx, func(tx *sql.Tx) error { return db.appendTx(ctx, tx, chain, recs) })
	}
	return err
}

// isConstraint reports whether err is a constraint violation (a
// sequence number another process took).
func isConstraint(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && e.Code == sqlite3.ErrConstraint
}

// inTx runs fn in a write transaction. Write transactions are serialized
// (one connection): until Commit hands the connection on, the chain heads
// fn stages in db.staged belong to this transaction.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := db.wal.lostErr(); err != nil {
		return err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	db.staged, db.stagedRecent = db.staged[:0], db.stagedRecent[:0]
	if err := fn(tx); err != nil {
		tx.Rollback()
		db.forgetHeads()
		return err
	}
	staged := slices.Clone(db.staged)
	stagedRecent := slices.Clone(db.stagedRecent)
	clear(db.stagedRecent)
	if err := tx.Commit(); err != nil {
		// The outcome is unknown: read the heads again next time.
		db.forgetHeads()
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	if err := db.wal.sync(false); err != nil {
		db.forgetHeads()
		return err
	}
	db.headMu.Lock()
	for _, h := range staged {
		// A later transaction may have recorded its head first.
		db.heads[h.chain] = max(db.heads[h.chain], h.seq)
	}
	db.headMu.Unlock()
	for _, r := range stagedRecent {
		db.recent.add(r.chain, r.lastID, r.recs)
	}
	return nil
}

// stagedRecs are records appended in the open write transaction, for the
// indexer once it commits (see recent).
type stagedRecs struct {
	chain  string
	lastID int64
	recs   []*audit.Record
}

type stagedHead struct {
	chain string
	seq   uint64
}

func (db *DB) forgetHeads() {
	db.headMu.Lock()
	clear(db.heads)
	db.headMu.Unlock()
}

// appendTx appends recs to chain in tx, after the head it reads in tx.
func (db *DB) appendTx(ctx context.Context, tx *sql.Tx, chain string, recs []*audit.Record) error {
	return db.appendRecs(ctx, tx, chain, recs, false)
}

func (db *DB) appendRecs(ctx context.Context, tx *sql.Tx, chain string, recs []*audit.Record, cached bool) error {
	if len(recs) == 0 {
		return nil
	}
	var head uint64
	ok := false
	if cached {
		db.headMu.Lock()
		head, ok = db.heads[chain]
		db.headMu.Unlock()
	}
	if !ok {
		if err := tx.StmtContext(ctx, db.head).QueryRowContext(ctx, chain).Scan(&head); err != nil {
			return fmt.Errorf("sqlite: read chain head: %w", err)
		}
	}
	args := db.encodeRecs(chain, head, recs)
	last, err := db.insertRec.exec(ctx, tx, args)
	if err != nil {
		return fmt.Errorf("sqlite: append audit records: %w", err)
	}
	db.staged = append(db.staged, stagedHead{chain, head + uint64(len(recs))})
	if db.Indexer != nil {
		db.stagedRecent = append(db.stagedRecent, stagedRecs{chain, last, recs})
	}
	return nil
}

// encodeRecs numbers and seals recs after head in chain (sealBodies) and
// returns the INSERT arguments of their rows.
func (db *DB) encodeRecs(chain string, head uint64, recs []*audit.Record) []any {
	bodies := sealBodies(chain, head, recs)
	args := make([]any, 0, auditParams*len(recs))
	for j, r := range recs {
		args = append(args, chain, int64(r.Seq), r.Time.UnixNano(), bodies[j], r.LeafHash[:])
	}
	return args
}

// appendAutocommit appends up to chunk records with one multi-row INSERT in
// SQLite's autocommit mode: the statement is its own transaction, so the
// insert and the commit are one call into SQLite; the write-ahead log is
// synced after it. done is false
// when the chain head is not cached (the caller takes the transaction path).
func (db *DB) appendAutocommit(ctx context.Context, chain string, recs []*audit.Record) (done bool, err error) {
	db.headMu.Lock()
	head, ok := db.heads[chain]
	db.headMu.Unlock()
	if !ok {
		return false, nil
	}
	last, err := db.rawRec.exec(ctx, db, chain, head, recs)
	if err != nil {
		db.forgetHeads()
		if isConstraint(err) {
			return false, nil
		}
		return true, fmt.Errorf("sqlite: append audit records: %w", err)
	}
	if err := db.wal.sync(true); err != nil {
		db.forgetHeads()
		return true, err
	}
	if db.Indexer != nil {
		db.recent.add(chain, last, recs)
	}
	db.headMu.Lock()
	db.heads[chain] = max(db.heads[chain], head+uint64(len(recs)))
	db.headMu.Unlock()
	return true, nil
}
