// Package datadir is the layout of a ledger's data directory: where its
// side files go, its node id, and the refusal to start an empty ledger in
// a directory whose database is gone.
package datadir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// SideFile is where the file name (the text log, the checkpoint file)
// belongs by default: in the data directory, but next to the database of
// a SQLite store kept elsewhere, named after it (sqlite:/srv/x.db:
// /srv/x.jwt_logs.log), so that the checkpoints of one ledger never land
// in another's file.
func SideFile(dataDir, db, name string) string {
	if db == "" || sameFile(db, filepath.Join(dataDir, "jwtledger.db")) {
		return filepath.Join(dataDir, name)
	}
	base := filepath.Base(db)
	return filepath.Join(filepath.Dir(db), strings.TrimSuffix(base, filepath.Ext(base))+"."+name)
}

func sameFile(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

// NodeID reads dataDir's node-id, or makes it on first use from the host
// name and the directory's path.
func NodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	data, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(data)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(dataDir)
	sum := sha256.Sum256([]byte(host + "\x00" + abs))
	id := SanitizeID(host)
	if id == "" {
		id = "node"
	}
	id += "-" + hex.EncodeToString(sum[:4])
	data, err = keys.CreateFileOnce(path, []byte(id+"\n"))
	if err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// SanitizeID keeps the characters of s a node id may have.
func SanitizeID(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ErrMissingDatabase means the data directory belongs to a ledger whose
// database file is gone: Open refuses to create a new, empty one there.
var ErrMissingDatabase = errors.New("the data directory has a ledger but its database is missing")

// CheckNotMissing refuses to make a fresh database in a data directory
// that shows an earlier ledger (master.key, node-id, checkpoints.log).
func CheckNotMissing(dbPath, dataDir, cpFile string) error {
	if _, err := os.Stat(dbPath); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if cpFile == "" {
		cpFile = filepath.Join(dataDir, "checkpoints.log")
	}
	var found []string
	for _, p := range []string{filepath.Join(dataDir, "master.key"), filepath.Join(dataDir, "node-id"), cpFile} {
		if _, err := os.Stat(p); err == nil {
			found = append(found, filepath.Base(p))
		}
	}
	if len(found) == 0 {
		return nil
	}
	hint := "restore the database from a backup"
	if rescued, _ := filepath.Glob(dbPath + ".rescued-*"); len(rescued) > 0 {
		hint = "a copy saved when it was lost is " + rescued[len(rescued)-1] + ": move it to " + dbPath
	}
	// The lost file's write-ahead log, left at its name (a rescue by an
	// older release, or one that could not set it aside): SQLite would
	// replay it onto the database put there, which then opens as
	// "malformed".
	var stale []string
	for _, p := range []string{dbPath + "-wal", dbPath + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			stale = append(stale, p)
		}
	}
	if len(stale) > 0 {
		hint = "first move away " + strings.Join(stale, " and ") + " (the lost file's write-ahead log, which SQLite would replay onto the database put there), then " + hint
	}
	return fmt.Errorf("%w: %s has %s but no %s; refusing to start a new, empty ledger there (hint: %s, or use another --data-dir for a new ledger)",
		ErrMissingDatabase, dataDir, strings.Join(found, ", "), filepath.Base(dbPath), hint)
}
