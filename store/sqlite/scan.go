//go:build cgo

package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger/store"
)

var _ store.RangeScanner = (*DB)(nil)

// ScanChainRange calls fn for every record of chain with from <= seq < to,
// in seq order; body is nil for a pruned record. The slices are only valid
// during the call. audit verify reads every record through here: it reads
// them on a connection of its own, many rows per call into SQLite (see
// scanConn); the rows, errors and their order are those of the shared
// query. If that connection cannot be opened, it reads the driver's rows
// (driverScanRange).
func (db *DB) ScanChainRange(ctx context.Context, chain string, from, to int64, fn func(seq int64, body, leaf []byte) error) error {
	fn = canonical(fn)
	if db.scanByDriver {
		return db.driverScanRange(ctx, chain, from, to, fn)
	}
	c := db.scanConn()
	if c == nil {
		return db.driverScanRange(ctx, chain, from, to, fn)
	}
	var failed error
	err := c.scanRange(ctx, chain, from, to, func(seq int64, body, leaf []byte) error {
		failed = fn(seq, body, leaf)
		return failed
	})
	if err != nil && err != failed {
		c.close() // not kept: its transaction may not have ended
		return fmt.Errorf("sqlite: scan chain: %w", err)
	}
	db.putScanConn(c)
	return err
}

// scanConn takes a scan connection from the pool, or opens one; nil if it
// cannot.
func (db *DB) scanConn() *scanConn {
	select {
	case c := <-db.scans:
		return c
	default:
	}
	c, err := openScanConn(db.path)
	if err != nil {
		return nil
	}
	return c
}

// putScanConn gives c back to the pool, or closes it when the pool is full
// or the store closed.
func (db *DB) putScanConn(c *scanConn) {
	db.scansMu.Lock()
	defer db.scansMu.Unlock()
	if !db.scansClosed {
		select {
		case db.scans <- c:
			return
		default:
		}
	}
	c.close()
}

// closeScanConns closes the pooled scan connections.
func (db *DB) closeScanConns() {
	db.scansMu.Lock()
	defer db.scansMu.Unlock()
	db.scansClosed = true
	for {
		select {
		case c := <-db.scans:
			c.close()
		default:
			return
		}
	}
}

// driverScanRange is ScanChainRange through the driver's rows, read directly, not
// through database/sql's Rows and Scan, whose locking and conversions cost
// about a tenth of verifying a record.
func (db *DB) driverScanRange(ctx context.Context, chain string, from, to int64, fn func(seq int64, body, leaf []byte) error) error {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: scan chain: %w", err)
	}
	defer conn.Close()
	var failed error
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		rows, err := c.QueryContext(ctx, rowsBySeq,
			[]driver.NamedValue{{Ordinal: 1, Value: chain}, {Ordinal: 2, Value: from}, {Ordinal: 3, Value: to}})
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, 3)
		for {
			if err := rows.Next(dest); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			seq, ok := dest[0].(int64)
			body, ok1 := dest[1].([]byte)
			leaf, ok2 := dest[2].([]byte)
			if !ok || !ok1 || !ok2 {
				return fmt.Errorf("unexpected column types %T %T %T", dest[0], dest[1], dest[2])
			}
			if len(body) == 0 {
				body = nil // pruned
			}
			if failed = fn(seq, body, leaf); failed != nil {
				return failed
			}
		}
	})
	if err != nil && err != failed {
		return fmt.Errorf("sqlite: scan chain: %w", err)
	}
	return err
}
