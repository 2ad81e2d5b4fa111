//go:build cgo

package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/jwtledger/jwtledger/store"
)

// walSync makes committed transactions durable. The database runs with
// synchronous=NORMAL: SQLite writes a commit's frames to the write-ahead
// log without an fsync (and still syncs the log before each checkpoint and
// the database file after it), and every write transaction is followed by
// an fdatasync of the log here, which gives the durability of
// synchronous=FULL.
//
// The reason is the audit hot path: an fsync inside SQLite is a long call
// into C, after which the Go scheduler queues the committing goroutine
// behind every runnable request goroutine before it can release the
// batch's callers. With [Options].RawSync (the registered opener sets it
// whenever GOMAXPROCS > 1, serve whenever it adds its extra processor), the audit append
// syncs the log with a raw system call instead (see fdatasyncRaw), which
// keeps the goroutine's processor; serve runs one processor more than
// there are CPUs so the others keep every CPU busy meanwhile.
//
// Before every sync it checks that the database file and the log at their
// paths are still the files SQLite has open (same device and inode, the
// database no smaller than before): a file deleted, replaced or truncated
// under the running process would take every later commit with it, so
// that is an [store.IdentityError], sticky until the store is reopened.
type walSync struct {
	path   string // of the log
	dbPath string
	// raw makes the audit append sync the log with a raw system call (see
	// fdatasyncRaw): not with one Go processor, which the sync would hold.
	raw bool

	mu     sync.Mutex
	f      *os.File
	info   os.FileInfo // of f, the log SQLite writes
	dbInfo os.FileInfo // of the database file at open
	dbSize int64       // largest size seen; SQLite never shrinks it here (no auto_vacuum; VACUUM only by Repack, which calls shrunk)

	lost atomic.Pointer[store.IdentityError]
}

// identify records the database file that was opened.
func (w *walSync) identify() error {
	info, err := os.Stat(w.dbPath)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dbInfo, w.dbSize = info, info.Size()
	if w.f == nil {
		// The log, when SQLite has made it already: from now on it must stay.
		if f, err := os.Open(w.path); err == nil {
			if w.info, err = f.Stat(); err != nil {
				f.Close()
				return fmt.Errorf("sqlite: %w", err)
			}
			w.f = f
		}
	}
	return nil
}

// shrunk takes the database file's size now as its own: after this
// process's VACUUM, checkpointed, before any other check could take the
// smaller file for a truncated one.
func (w *walSync) shrunk() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	info, err := os.Stat(w.dbPath)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if w.dbInfo != nil && !os.SameFile(info, w.dbInfo) {
		return w.fail(fmt.Sprintf("the database file %s was replaced by another file while the ledger had it open", w.dbPath))
	}
	w.dbSize = info.Size()
	return nil
}

// lostErr is the identity failure seen so far, or nil.
func (w *walSync) lostErr() error {
	if e := w.lost.Load(); e != nil {
		return e
	}
	return nil
}

func (w *walSync) fail(what string) error {
	e := &store.IdentityError{What: what}
	w.lost.CompareAndSwap(nil, e)
	return w.lost.Load()
}

// check compares the files at their paths with the ones opened; w.mu is held.
func (w *walSync) check() error {
	if e := w.lost.Load(); e != nil {
		return e
	}
	if w.dbInfo != nil {
		info, err := os.Stat(w.dbPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return w.fail(fmt.Sprintf("the database file %s was deleted while the ledger had it open", w.dbPath))
		case err != nil:
			return fmt.Errorf("sqlite: check database file: %w", err)
		case !os.SameFile(info, w.dbInfo):
			return w.fail(fmt.Sprintf("the database file %s was replaced by another file while the ledger had it open", w.dbPath))
		case info.Size() < w.dbSize:
			return w.fail(fmt.Sprintf("the database file %s was truncated from %d to %d bytes while the ledger had it open", w.dbPath, w.dbSize, info.Size()))
		}
		w.dbSize = info.Size()
	}
	if w.f != nil {
		info, err := os.Stat(w.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return w.fail(fmt.Sprintf("the write-ahead log %s was deleted while the ledger had it open", w.path))
		case err != nil:
			return fmt.Errorf("sqlite: check write-ahead log: %w", err)
		case !os.SameFile(info, w.info):
			return w.fail(fmt.Sprintf("the write-ahead log %s was replaced by another file while the ledger had it open", w.path))
		}
	}
	return nil
}

// verify checks the identity of the files without syncing.
func (w *walSync) verify() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.check()
}

func (w *walSync) sync(raw bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	if w.f == nil {
		// The log SQLite made for this connection; from now on it must stay.
		f, err := os.Open(w.path)
		if err != nil {
			return fmt.Errorf("sqlite: sync write-ahead log: %w", err)
		}
		if w.info, err = f.Stat(); err != nil {
			f.Close()
			return fmt.Errorf("sqlite: sync write-ahead log: %w", err)
		}
		w.f = f
	}
	var err error
	if raw && w.raw {
		err = fdatasyncRaw(w.f)
	} else {
		err = fdatasync(w.f)
	}
	if err != nil {
		return fmt.Errorf("sqlite: sync write-ahead log: %w", err)
	}
	return nil
}

// setAside renames the write-ahead log and its index to their names plus
// suffix when the database file they belong to was deleted or replaced:
// no one can open that file any more, and SQLite would replay its log onto
// whatever database is put at the path next (a rescued copy moved into
// place, which would then open as "malformed"). Only the log this process
// has open is moved; nothing is removed.
func (w *walSync) setAside(suffix string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil || w.dbInfo == nil {
		return nil
	}
	if info, err := os.Stat(w.dbPath); err == nil && os.SameFile(info, w.dbInfo) {
		return nil // the same file, truncated or overwritten: its log is its own
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: set aside write-ahead log: %w", err)
	}
	if info, err := os.Stat(w.path); err != nil || !os.SameFile(info, w.info) {
		return nil // not the log this process has open
	}
	if err := os.Rename(w.path, w.path+suffix); err != nil {
		return fmt.Errorf("sqlite: set aside write-ahead log: %w", err)
	}
	shm := w.dbPath + "-shm"
	if err := os.Rename(shm, shm+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: set aside write-ahead log index: %w", err)
	}
	return nil
}

func (w *walSync) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
