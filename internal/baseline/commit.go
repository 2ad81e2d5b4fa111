package baseline

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver
)

// maxBatch bounds the records of one transaction.
const maxBatch = 1024

const schema = `CREATE TABLE IF NOT EXISTS records (
	seq  INTEGER PRIMARY KEY,
	time INTEGER NOT NULL,
	body TEXT NOT NULL
) STRICT`

// committer is ModeD's naive group commit: one goroutine takes the
// records waiting, inserts them one by one in one transaction and commits;
// no lingering, no batching heuristics, no sync of its own (SQLite's
// synchronous=FULL syncs the log at every commit).
type committer struct {
	db     *sql.DB
	insert *sql.Stmt
	in     chan *pending // unbuffered: a record is taken by the committer or not at all
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// pending is one record waiting for its commit.
type pending struct {
	time int64
	body string
	err  chan error
}

func openCommitter(path string) (*committer, error) {
	// Private from the start, like jwtledger's store.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create table in %s: %w", path, err)
	}
	ins, err := db.PrepareContext(ctx, `INSERT INTO records (time, body) VALUES (?, ?)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	c := &committer{db: db, insert: ins, in: make(chan *pending), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

// Append returns once the transaction holding the record is committed, or
// with the error that prevented it.
func (c *committer) Append(t time.Time, body string) error {
	p := &pending{time: t.UnixNano(), body: body, err: make(chan error, 1)}
	select {
	case c.in <- p:
	case <-c.quit:
		return errClosed
	}
	return <-p.err
}

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*pending, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case <-c.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case p := <-c.in:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		err := c.commit(batch)
		for _, p := range batch {
			p.err <- err
		}
	}
}

func (c *committer) commit(batch []*pending) error {
	ctx := context.Background()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	ins := tx.StmtContext(ctx, c.insert)
	for _, p := range batch {
		if _, err := ins.ExecContext(ctx, p.time, p.body); err != nil {
			tx.Rollback()
			return fmt.Errorf("insert: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close lets the batch being committed finish, refuses later records and
// closes the database.
func (c *committer) Close() error {
	c.once.Do(func() { close(c.quit) })
	<-c.done
	c.insert.Close()
	return c.db.Close()
}
