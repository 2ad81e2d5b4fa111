package witness

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// logState is what the witness remembers of one log: the latest checkpoint
// it cosigned. mu serialises the requests for the log, from the check of
// the old size to the durable write of the new state.
type logState struct {
	mu   sync.Mutex
	path string
	cur  stateFile // zero Size and Root before the first cosignature
	// broken is set when a save failed: what is on disk may then differ
	// from cur, so the log is refused until a restart reads the disk.
	broken bool
}

// stateFile is the JSON form of a log's state, one file per log, replaced
// atomically (write, fsync, rename, fsync of the directory) before the
// witness answers.
type stateFile struct {
	Origin string    `json:"origin"`
	Size   int64     `json:"size"`
	Root   tlog.Hash `json:"root"`
	// Time is the POSIX timestamp of the latest cosignature: the next one
	// is never dated earlier, even if the clock steps back.
	Time int64 `json:"time"`
	// Checkpoint is the latest cosigned checkpoint, with the log's
	// signature and the witness's cosignature: the witness's evidence of
	// what it saw.
	Checkpoint string `json:"checkpoint"`
}

// stateDir is the directory of the log state files in the witness directory.
const stateDir = "logs"

func statePath(dir, origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, stateDir, hex.EncodeToString(h[:16])+".json")
}

// loadState reads the state of origin; a missing file is a log never
// cosigned, any other failure an error (the witness must not forget).
func loadState(dir, origin string) (*logState, error) {
	s := &logState{path: statePath(dir, origin)}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.cur.Origin = origin
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state of log %q: %w", origin, err)
	}
	if err := json.Unmarshal(data, &s.cur); err != nil {
		return nil, fmt.Errorf("state of log %q in %s is damaged: %w (hint: restore it from a backup; starting afresh would let the witness cosign a split view)", origin, s.path, err)
	}
	if s.cur.Origin != origin || s.cur.Size < 0 || s.cur.Time < 0 {
		return nil, fmt.Errorf("state file %s does not hold log %q (hint: restore it from a backup)", s.path, origin)
	}
	return s, nil
}

// save makes next the durable state of the log.
func (s *logState) save(next stateFile) error {
	if err := s.write(next); err != nil {
		s.broken = true
		return err
	}
	s.cur = next
	return nil
}

func (s *logState) write(next stateFile) error {
	j, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("save log state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(j, '\n'))
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("save log state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save log state: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("save log state: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
