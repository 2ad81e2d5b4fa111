//go:build cgo

package sqlite

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWALSync checks that the log syncer follows the file at its path (a
// log replaced under it is reopened, not the old inode synced) and fails
// when there is no log to sync.
func TestWALSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db-wal")
	w := &walSync{path: path}
	defer w.close()
	SetRawSync(true)
	defer SetRawSync(false)
	steps := []struct {
		name    string
		before  func()
		raw     bool
		wantErr bool
	}{
		{name: "no log yet", wantErr: true},
		{name: "log", before: func() { os.WriteFile(path, []byte("frames"), 0o600) }},
		{name: "raw", raw: true},
		{name: "log replaced", before: func() {
			tmp := path + ".new"
			os.WriteFile(tmp, []byte("other frames"), 0o600)
			os.Rename(tmp, path)
		}, raw: true},
		{name: "log removed", before: func() { os.Remove(path) }, wantErr: true},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		err := w.sync(s.raw)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: sync = %v, want error %v", s.name, err, s.wantErr)
		}
		if err == nil {
			info, _ := os.Stat(path)
			if !os.SameFile(info, w.info) {
				t.Fatalf("%s: synced a file that is no longer the log", s.name)
			}
		}
	}
}
