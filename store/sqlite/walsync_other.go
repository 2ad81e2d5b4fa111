//go:build cgo && !linux

package sqlite

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

func fdatasyncRaw(f *os.File) error { return f.Sync() }
