//go:build cgo

package sqlite

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The few functions of SQLite's C API the scan uses, from the SQLite that
// github.com/mattn/go-sqlite3 links into the program (its amalgamation, or
// the system library with the libsqlite3 build tag): the same library, so
// the scan's connection shares the file locks and the WAL index with the
// driver's connections.
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
int sqlite3_exec(sqlite3 *db, const char *sql, void *cb, void *arg, char **errmsg);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_finalize(sqlite3_stmt *stmt);
int sqlite3_reset(sqlite3_stmt *stmt);
int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, long long v);
int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *v, int n, void (*destructor)(void *));
int sqlite3_step(sqlite3_stmt *stmt);
int sqlite3_column_type(sqlite3_stmt *stmt, int i);
long long sqlite3_column_int64(sqlite3_stmt *stmt, int i);
const void *sqlite3_column_blob(sqlite3_stmt *stmt, int i);
int sqlite3_column_bytes(sqlite3_stmt *stmt, int i);
const char *sqlite3_errmsg(sqlite3 *db);
int sqlite3_extended_errcode(sqlite3 *db);

#define JL_ROW 100      // SQLITE_ROW
#define JL_DONE 101     // SQLITE_DONE
#define JL_INTEGER 1    // SQLITE_INTEGER
#define JL_BLOB 4       // SQLITE_BLOB
#define JL_FULL (-1)    // the buffer is full: call again
#define JL_GROW (-2)    // the next row alone does not fit: *used is its size
#define JL_TYPES (-3)   // a column is not of the expected type

// jl_bind binds chain (?1) and two integers (?2, ?3), resetting stmt first.
static int jl_bind(sqlite3_stmt *st, const char *chain, int n, long long a, long long b) {
	int rc = sqlite3_reset(st);
	if (rc) return rc;
	// SQLITE_TRANSIENT: SQLite copies chain.
	if ((rc = sqlite3_bind_text(st, 1, chain, n, (void (*)(void *))-1))) return rc;
	if ((rc = sqlite3_bind_int64(st, 2, a))) return rc;
	return sqlite3_bind_int64(st, 3, b);
}

// jl_rows steps stmt, whose rows are (seq INTEGER, body BLOB, leaf BLOB),
// and copies rows into buf as seq (8 bytes), the lengths of body and leaf
// (4 bytes each), body, leaf, until the rows end (JL_DONE) or buf is full
// (JL_FULL); *pending says a row was stepped to and not copied yet (it is
// copied first at the next call). *used is the bytes filled, *rows the
// rows copied.
static int jl_rows(sqlite3_stmt *st, int *pending, unsigned char *buf, int cap, int *used, int *rows) {
	int off = 0, n = 0;
	for (;;) {
		if (!*pending) {
			int rc = sqlite3_step(st);
			if (rc != JL_ROW) {
				*used = off;
				*rows = n;
				return rc;
			}
			*pending = 1;
		}
		if (sqlite3_column_type(st, 0) != JL_INTEGER || sqlite3_column_type(st, 1) != JL_BLOB || sqlite3_column_type(st, 2) != JL_BLOB) {
			*used = off;
			*rows = n;
			return JL_TYPES;
		}
		const void *body = sqlite3_column_blob(st, 1);
		int bodyLen = sqlite3_column_bytes(st, 1);
		const void *leaf = sqlite3_column_blob(st, 2);
		int leafLen = sqlite3_column_bytes(st, 2);
		long long need = 16 + (long long)bodyLen + leafLen;
		if (off + need > cap) {
			if (n == 0) {
				*used = need > 0x7fffffff ? 0x7fffffff : (int)need;
				*rows = 0;
				return JL_GROW;
			}
			*used = off;
			*rows = n;
			return JL_FULL;
		}
		long long seq = sqlite3_column_int64(st, 0);
		int32_t bl = bodyLen, ll = leafLen;
		memcpy(buf + off, &seq, 8);
		memcpy(buf + off + 8, &bl, 4);
		memcpy(buf + off + 12, &ll, 4);
		if (bodyLen > 0) memcpy(buf + off + 16, body, bodyLen);
		if (leafLen > 0) memcpy(buf + off + 16 + bodyLen, leaf, leafLen);
		off += need;
		n++;
		*pending = 0;
	}
}
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/mattn/go-sqlite3"
)

// rowsBySeq is the scan's query: the (chain, seq) index, each row read
// by its rowid.
const rowsBySeq = "SELECT seq, body, leaf FROM audit WHERE chain = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq"

// scanBuffer is the size of the buffer rows are copied into, a few hundred
// rows at a time (one call into C each).
const scanBuffer = 256 << 10

// A scanConn is a read-only SQLite connection of its own (not one of
// database/sql's) that ScanChainRange reads rows through, many rows per
// call into C, copied into one buffer: the driver's rows cost a call into
// C, two allocations and copies per row (about a quarter of verifying a
// record).
type scanConn struct {
	db     *C.sqlite3
	rows   *C.sqlite3_stmt // rowsBySeq
	begin  *C.char
	commit *C.char
	buf    []byte
}

// scanError is SQLite's error rc on c as a [sqlite3.Error] (so that
// [DB.IsDamage] knows damage), with SQLite's message.
func (c *scanConn) scanError(rc C.int) error {
	e := sqlite3.Error{Code: sqlite3.ErrNo(rc & 0xff), ExtendedCode: sqlite3.ErrNoExtended(rc)}
	if c.db == nil {
		return e
	}
	e.ExtendedCode = sqlite3.ErrNoExtended(C.sqlite3_extended_errcode(c.db))
	if msg := C.GoString(C.sqlite3_errmsg(c.db)); msg != e.Error() {
		return fmt.Errorf("%s: %w", msg, e)
	}
	return e
}

// openScanConn opens path for reading.
func openScanConn(path string) (*scanConn, error) {
	const (
		openReadOnly = 0x00000001 // SQLITE_OPEN_READONLY
		openNoMutex  = 0x00008000 // SQLITE_OPEN_NOMUTEX: one goroutine at a time uses it
	)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	c := &scanConn{}
	if rc := C.sqlite3_open_v2(cpath, &c.db, openReadOnly|openNoMutex, nil); rc != 0 {
		err := c.scanError(rc)
		c.close()
		return nil, err
	}
	C.sqlite3_busy_timeout(c.db, 10000)
	q := C.CString(rowsBySeq)
	rc := C.sqlite3_prepare_v2(c.db, q, -1, &c.rows, nil)
	C.free(unsafe.Pointer(q))
	if rc != 0 {
		err := c.scanError(rc)
		c.close()
		return nil, err
	}
	c.begin, c.commit = C.CString("BEGIN DEFERRED"), C.CString("COMMIT")
	c.buf = make([]byte, scanBuffer)
	return c, nil
}

func (c *scanConn) close() {
	if c.rows != nil {
		C.sqlite3_finalize(c.rows)
	}
	if c.db != nil {
		C.sqlite3_close_v2(c.db)
	}
	C.free(unsafe.Pointer(c.begin))
	C.free(unsafe.Pointer(c.commit))
	*c = scanConn{}
}

// scanRange is ScanChainRange on c: the rows of the shared query, in its
// order, in one read transaction.
func (c *scanConn) scanRange(ctx context.Context, chain string, from, to int64, fn func(seq int64, body, leaf []byte) error) (err error) {
	if rc := C.sqlite3_exec(c.db, c.begin, nil, nil, nil); rc != 0 {
		return c.scanError(rc)
	}
	defer func() {
		if len(c.buf) > scanBuffer {
			c.buf = make([]byte, scanBuffer) // do not keep what one large row needed
		}
		C.sqlite3_reset(c.rows)
		if rc := C.sqlite3_exec(c.db, c.commit, nil, nil, nil); rc != 0 && err == nil {
			err = c.scanError(rc)
		}
	}()
	cchain := C.CString(chain)
	defer C.free(unsafe.Pointer(cchain))
	if rc := C.jl_bind(c.rows, cchain, C.int(len(chain)), C.longlong(from), C.longlong(to)); rc != 0 {
		return c.scanError(rc)
	}
	return c.read(ctx, c.rows, fn)
}

// read gives fn stmt's rows (body nil when empty: pruned) until they end or
// fn fails.
func (c *scanConn) read(ctx context.Context, stmt *C.sqlite3_stmt, fn func(seq int64, body, leaf []byte) error) error {
	var pending C.int
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var used, n C.int
		rc := C.jl_rows(stmt, &pending, (*C.uchar)(unsafe.Pointer(&c.buf[0])), C.int(len(c.buf)), &used, &n)
		if rc == C.JL_GROW {
			c.buf = make([]byte, int(used))
			continue
		}
		// The rows copied before the rows ended or failed, then why.
		b := c.buf[:int(used)]
		for range int(n) {
			seq := int64(binary.NativeEndian.Uint64(b))
			bl, ll := int(binary.NativeEndian.Uint32(b[8:])), int(binary.NativeEndian.Uint32(b[12:]))
			body, leaf := b[16:16+bl:16+bl], b[16+bl:16+bl+ll:16+bl+ll]
			b = b[16+bl+ll:]
			if bl == 0 {
				body = nil
			}
			if err := fn(seq, body, leaf); err != nil {
				return err
			}
		}
		switch rc {
		case C.JL_DONE:
			return nil
		case C.JL_FULL:
		case C.JL_TYPES:
			return errors.New("unexpected column types")
		default:
			return c.scanError(rc)
		}
	}
}
