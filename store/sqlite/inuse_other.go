//go:build cgo && !unix

package sqlite

// otherOpener cannot tell on this system: 0 (see inuse_unix.go).
func otherOpener(path string) (int, error) { return 0, nil }
