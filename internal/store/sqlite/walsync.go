//go:build cgo

package sqlite

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
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
// batch's callers. With SetRawSync (serve), the audit append syncs the log
// with a raw system call instead (see fdatasyncRaw), which keeps the
// goroutine's processor; serve runs one processor more than there are CPUs
// so the others keep every CPU busy meanwhile.
// rawSync makes the audit append sync the log with a raw system call
// (see fdatasyncRaw). Only for a process that runs more Go processors than
// CPUs (serve sets both): otherwise a processor held by a sync leaves a CPU
// without Go work.
var rawSync atomic.Bool

// SetRawSync turns the raw sync on or off for the process.
func SetRawSync(on bool) { rawSync.Store(on) }

type walSync struct {
	path string

	mu   sync.Mutex
	f    *os.File
	info os.FileInfo // of f, to notice a log file replaced under us
}

func (w *walSync) sync(raw bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	info, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("sqlite: sync write-ahead log: %w", err)
	}
	if w.f == nil || !os.SameFile(info, w.info) {
		if w.f != nil {
			w.f.Close()
			w.f = nil
		}
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
	if raw && rawSync.Load() {
		err = fdatasyncRaw(w.f)
	} else {
		err = fdatasync(w.f)
	}
	if err != nil {
		return fmt.Errorf("sqlite: sync write-ahead log: %w", err)
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
