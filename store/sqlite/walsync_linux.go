//go:build cgo

package sqlite

import (
	"os"
	"syscall"
)

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// fdatasyncRaw syncs f without telling the Go scheduler: the goroutine
// keeps its processor for the ~0.1-0.3 ms of the sync and goes on at once,
// instead of queueing for a processor afterwards. (A garbage collection
// that starts meanwhile waits for the sync to end.)
func fdatasyncRaw(f *os.File) error {
	fd := f.Fd()
	for {
		_, _, e := syscall.RawSyscall(syscall.SYS_FDATASYNC, fd, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return e
		}
	}
}
