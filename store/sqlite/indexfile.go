//go:build cgo

package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// The query index lives in a file of its own next to the database,
// PATH-index (with its own -wal and -shm), not in the database: its
// follower (tables.Indexer) then takes that file's write lock, and the
// append keeps the database's to itself (in the database, the follower's
// transactions made appends wait in BeginTx: 0.31-0.63x of the append
// with the index off). The file is derived data: every row in it can be
// computed again from the records, so it is never backed up, never
// synced after a commit, and built again at open when it is missing,
// damaged, of another format, or not the index of this database:
//
//	index_meta    (name, value)      'store_id': the database's
//	                                 audit_index_id (meta)
//	audit_index   (run, key, id)     as before (tables/index.go)
//	audit_indexed (chain, seq, leaf) each chain's mark, and the leaf hash
//	                                 of the record at it
//
// The rows of a round and the move of its mark are one transaction of
// the index file, so a crash loses a round, never the agreement between
// the two. At open every mark is checked against the database: the record
// at it must be there with the same leaf hash (a database restored from a
// backup, or another ledger's index file, fails this), and the file's
// store_id must be the database's.
//
// Queries read the index through a pool of connections to the database
// that ATTACH the index file (db.ir); the store's other reads and its
// writes never touch it. Should the index file fail a query (deleted or
// damaged while the store runs), the query is answered by a scan of the
// records instead (tables.Reads.Query).

// indexFileVersion is the index file's user_version: a file of another
// version is built again.
const indexFileVersion = 1

const indexFileSchema = `
CREATE TABLE IF NOT EXISTS index_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_index (
    run INTEGER NOT NULL,
    key INTEGER NOT NULL,
    id  INTEGER NOT NULL,
    PRIMARY KEY (run, key, id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_indexed (
    chain TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL,
    leaf  BLOB NOT NULL
) STRICT, WITHOUT ROWID;
`

// IndexPath is the index file of the database at path.
func IndexPath(path string) string { return path + "-index" }

// indexDSN is the DSN of the index file's own write connection:
// synchronous NORMAL in WAL mode, and no sync of its own after a commit
// (see indexTx).
func indexDSN(path string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openIndexFile opens the index file of db (db.iw), building it again if
// it is not the sound index of this database, and the query pool that
// attaches it (db.ir).
func (db *DB) openIndexFile(ctx context.Context, dsn string) error {
	id, err := db.SetMetaOnce(ctx, "audit_index_id", []byte(randomHex()))
	if err != nil {
		return fmt.Errorf("sqlite: index file: %w", err)
	}
	path := IndexPath(db.path)
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	why, err := db.checkIndexFile(ctx, path, id)
	if err != nil {
		return err
	}
	if why != "" {
		db.indexRebuilt = why
		if err := db.resetIndexFile(ctx, path, why, id); err != nil {
			return err
		}
	}
	db.ir = sql.OpenDB(attachConnector{dsn: dsn, index: path})
	db.ir.SetMaxOpenConns(4)
	db.ir.SetMaxIdleConns(4)
	return nil
}

// IndexRebuilt says why Open built the index file again ("" when it
// kept it; "new" when there was none).
func (db *DB) IndexRebuilt() string { return db.indexRebuilt }

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// checkIndexFile opens the index file at path into db.iw and says why it
// must be built again ("" when it is sound and this database's).
func (db *DB) checkIndexFile(ctx context.Context, path string, id []byte) (why string, err error) {
	iw, err := sql.Open("sqlite3", indexDSN(path))
	if err != nil {
		return "", fmt.Errorf("sqlite: open index file: %w", err)
	}
	iw.SetMaxOpenConns(1)
	iw.SetConnMaxIdleTime(0)
	db.iw = iw
	var version int
	if err := iw.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return "unreadable: " + err.Error(), nil
	}
	if version == 0 {
		return "new", nil
	}
	if version != indexFileVersion {
		return fmt.Sprintf("format %d, not %d", version, indexFileVersion), nil
	}
	// A file cut short: once its log is checkpointed, it holds fewer pages
	// than its header counts (a read of a missing page would fail a query
	// later).
	var busy, logPages, done int
	if err := iw.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
		return "unreadable: " + err.Error(), nil
	}
	if busy == 0 {
		var pages, size int64
		if err := iw.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			return "unreadable: " + err.Error(), nil
		}
		if err := iw.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
			return "unreadable: " + err.Error(), nil
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() < pages*size {
			return "truncated", nil
		}
	}
	return db.indexContents(ctx, iw, id)
}

// indexQuerier is an *sql.DB or *sql.Tx of the index file.
type indexQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// indexContents says why the index file q reads is not this database's
// index ("" when it is): its version, its store id (id) and its marks,
// each of which must name a record of the database with the same leaf
// hash.
func (db *DB) indexContents(ctx context.Context, q indexQuerier, id []byte) (why string, err error) {
	var version int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return "unreadable: " + err.Error(), nil
	}
	if version == 0 {
		return "new", nil
	}
	if version != indexFileVersion {
		return fmt.Sprintf("format %d, not %d", version, indexFileVersion), nil
	}
	var stored []byte
	switch err := q.QueryRowContext(ctx, "SELECT value FROM index_meta WHERE name = 'store_id'").Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
		return "no store id", nil
	case err != nil:
		return "unreadable: " + err.Error(), nil
	case !bytes.Equal(stored, id):
		return "the index of another database", nil
	}
	type mark struct {
		chain string
		seq   int64
		leaf  []byte
	}
	var marks []mark
	rows, err := q.QueryContext(ctx, "SELECT chain, seq, leaf FROM audit_indexed")
	if err != nil {
		return "unreadable: " + err.Error(), nil
	}
	for rows.Next() {
		var m mark
		if err := rows.Scan(&m.chain, &m.seq, &m.leaf); err != nil {
			rows.Close()
			return "unreadable: " + err.Error(), nil
		}
		marks = append(marks, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "unreadable: " + err.Error(), nil
	}
	for _, m := range marks {
		var leaf []byte
		err := db.w.QueryRowContext(ctx, "SELECT leaf FROM audit WHERE chain = ? AND seq = ?", m.chain, m.seq).Scan(&leaf)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !bytes.Equal(leaf, m.leaf) {
			return fmt.Sprintf("its mark of chain %q is not a record of the database", m.chain), nil
		}
		if err != nil {
			return "", fmt.Errorf("sqlite: check index file: %w", err)
		}
	}
	return "", nil
}

// resetIndexFile makes the index file at path (not sound: why) an empty
// index of the database with store id id, unless another process made it
// sound meanwhile: its tables dropped and made again in one
// transaction when it can be read, else the file removed and made anew.
func (db *DB) resetIndexFile(ctx context.Context, path, why string, id []byte) error {
	reset := func() error {
		tx, err := db.iw.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		// Another process opening the store may have made or rebuilt the
		// file since it was checked (and be indexing into it): keep what
		// is sound now, under the file's write lock.
		// (Not for a damaged file, whose contents may read well.)
		if damaged := why == "truncated" || strings.HasPrefix(why, "unreadable"); !damaged {
			if now, err := db.indexContents(ctx, tx, id); err == nil && now == "" {
				return tx.Commit()
			}
		}
		for _, stmt := range []string{"DROP TABLE IF EXISTS audit_index", "DROP TABLE IF EXISTS audit_indexed", "DROP TABLE IF EXISTS index_meta", indexFileSchema,
			fmt.Sprintf("PRAGMA user_version = %d", indexFileVersion)} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO index_meta (name, value) VALUES ('store_id', ?)", id); err != nil {
			return err
		}
		return tx.Commit()
	}
	if err := reset(); err == nil {
		return nil
	}
	// Unreadable: a new file.
	db.iw.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sqlite: remove damaged index file: %w", err)
		}
	}
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	iw, err := sql.Open("sqlite3", indexDSN(path))
	if err != nil {
		return fmt.Errorf("sqlite: open index file: %w", err)
	}
	iw.SetMaxOpenConns(1)
	iw.SetConnMaxIdleTime(0)
	db.iw = iw
	if err := reset(); err != nil {
		return fmt.Errorf("sqlite: make index file %s: %w", path, err)
	}
	return nil
}

// attachConnector opens connections to the database that ATTACH the
// index file: the queries of tables.Dialect name audit_index and
// audit_indexed without a schema, and SQLite finds them there.
type attachConnector struct {
	dsn, index string
}

var attachDriver = &sqlite3.SQLiteDriver{}

func (c attachConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := attachDriver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc := conn.(*sqlite3.SQLiteConn)
	// Never make a file where the index was (deleted while the store
	// runs): the attach fails, and so do the index queries, which the
	// store then answers by a scan.
	if _, err := os.Stat(c.index); err != nil {
		sc.Close()
		return nil, fmt.Errorf("index file: %w", err)
	}
	if _, err := sc.ExecContext(ctx, "ATTACH DATABASE ? AS idx", []driver.NamedValue{{Ordinal: 1, Value: c.index}}); err != nil {
		sc.Close()
		return nil, err
	}
	return sc, nil
}

func (c attachConnector) Driver() driver.Driver { return attachDriver }
