//go:build cgo

package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// rawInsert runs the audit append's multi-row INSERT on the write
// connection's driver connection (through [sql.Conn.Raw]), with statements
// prepared there, instead of through database/sql's Stmt.ExecContext: that
// one finds the statement of the connection in a list, converts and checks
// every argument and copies them into a new []driver.NamedValue per call
// (320 values for 64 rows). The chain is bound once per statement (?1 in
// every row), the sequence numbers are computed by SQLite from the first
// one (?2 + k), and the leaf hashes, 32 bytes each, are bound as one blob
// (?3) that every row takes its slice of (substr on a blob counts bytes),
// so a row binds 2 values (time, body) instead of 5: every bind is a call
// from Go into C. The rows stored are the same.
//
// The write pool has one connection, so holding it (Raw) serializes the
// appends with the transactions exactly as Stmt.ExecContext did; the
// statements and the argument buffer are only used while it is held.
type rawInsert struct {
	mu     sync.Mutex // guards conn and stmts against Close
	conn   *sqlite3.SQLiteConn
	stmts  [chunk]driver.Stmt // stmts[n-1] inserts n rows, prepared on first use
	args   []driver.NamedValue
	leaves []byte // the leaf hashes of the rows, bound as one blob
}

// rawRowParams is how many values one row binds: time, body.
const rawRowParams = 2

// rawFirstRow is the first parameter of the rows: ?1 is the chain, ?2 the
// first sequence number, ?3 the leaf hashes.
const rawFirstRow = 4

// leafSize is the size of a leaf hash.
const leafSize = len(audit.Record{}.LeafHash)

// rawInsertSQL is the statement that inserts n rows of one chain.
func rawInsertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO audit (" + auditColumns + ") VALUES ")
	for k := range n {
		if k > 0 {
			b.WriteByte(',')
		}
		p := rawFirstRow + rawRowParams*k
		b.WriteString("(?1, ?2")
		if k > 0 {
			b.WriteString(" + " + strconv.Itoa(k))
		}
		b.WriteString(", ?" + strconv.Itoa(p) + ", ?" + strconv.Itoa(p+1))
		b.WriteString(", substr(?3, " + strconv.Itoa(1+leafSize*k) + ", " + strconv.Itoa(leafSize) + "))")
	}
	return b.String()
}

// exec seals recs as the records after head of chain (sealBodies) and
// inserts them with one statement in autocommit mode; it returns the rowid
// of the last row. len(recs) must be 1..chunk.
func (ri *rawInsert) exec(ctx context.Context, db *DB, chain string, head uint64, recs []*audit.Record) (last int64, err error) {
	bodies := sealBodies(chain, head, recs)
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		ri.mu.Lock()
		defer ri.mu.Unlock()
		st, err := ri.stmt(c, len(recs))
		if err != nil {
			return err
		}
		leaves := ri.leaves[:0]
		for _, r := range recs {
			leaves = append(leaves, r.LeafHash[:]...)
		}
		ri.leaves = leaves
		args := ri.args[:0]
		args = append(args,
			driver.NamedValue{Ordinal: 1, Value: chain},
			driver.NamedValue{Ordinal: 2, Value: int64(head + 1)},
			driver.NamedValue{Ordinal: 3, Value: leaves})
		for j, r := range recs {
			p := rawFirstRow + rawRowParams*j
			args = append(args,
				driver.NamedValue{Ordinal: p, Value: r.Time.UnixNano()},
				driver.NamedValue{Ordinal: p + 1, Value: bodies[j]})
		}
		ri.args = args
		res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
		clear(args) // keep no bodies alive
		if err != nil {
			return err
		}
		last, err = res.LastInsertId()
		return err
	})
	return last, err
}

// stmt is the statement inserting n rows on c; ri.mu is held.
func (ri *rawInsert) stmt(c *sqlite3.SQLiteConn, n int) (driver.Stmt, error) {
	if ri.conn != c {
		// A new driver connection (the pool replaced a broken one): the
		// old statements went with the old one.
		ri.closeStmts()
		ri.conn = c
	}
	if st := ri.stmts[n-1]; st != nil {
		return st, nil
	}
	st, err := c.Prepare(rawInsertSQL(n))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	ri.stmts[n-1] = st
	return st, nil
}

func (ri *rawInsert) closeStmts() {
	for i, st := range ri.stmts {
		if st != nil {
			st.Close()
			ri.stmts[i] = nil
		}
	}
}

// close finalizes the statements; the write connection must still be open
// (SQLite keeps a connection with unfinalized statements alive).
func (ri *rawInsert) close() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.closeStmts()
	ri.conn = nil
}
