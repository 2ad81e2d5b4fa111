//go:build cgo && unix

package sqlite

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// otherOpener returns the pid of another process that has the database
// at path open, or 0. Every connection in WAL mode holds a shared lock on
// the dead-man-switch byte of the shared-memory file (PATH-shm, offset
// 128: SQLite's unix VFS, UNIX_SHM_DMS) for as long as it has the
// database open; F_GETLK names a process whose lock conflicts with a
// write lock there. POSIX locks do not conflict within one process, so
// this process's own connections do not count.
func otherOpener(path string) (int, error) {
	f, err := os.Open(path + "-shm")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // no connection in WAL mode has it open
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return 0, err
	}
	if lk.Type == syscall.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}
