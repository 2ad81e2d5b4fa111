package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/store"
)

func TestSpecs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		spec, scheme, path string
	}{
		{"", "sqlite", filepath.Join(dir, "jwtledger.db")},
		{"sqlite:", "sqlite", filepath.Join(dir, "jwtledger.db")},
		{"sqlite:/srv/x.db", "sqlite", "/srv/x.db"},
		{"sqlite:///srv/x.db", "sqlite", "/srv/x.db"},
		{"postgres://u@db:5432/l", "postgres", ""},
		{"postgresql://u@db/l", "postgresql", ""},
		{"/srv/x.db", "", ""},
	}
	for _, tc := range tests {
		if got := store.Scheme(tc.spec); got != tc.scheme {
			t.Errorf("Scheme(%q) = %q, want %q", tc.spec, got, tc.scheme)
		}
		if got := store.FilePath(tc.spec, dir); got != tc.path {
			t.Errorf("FilePath(%q) = %q, want %q", tc.spec, got, tc.path)
		}
	}
}

// This test binary links no backend: Open names the package to import,
// and never the spec itself (a postgres:// URL may carry a password).
func TestOpenWithoutBackend(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"sqlite:/srv/x.db", `import _ "github.com/jwtledger/jwtledger/store/sqlite"`},
		{"postgres://u:secret@db/l", `import _ "github.com/jwtledger/jwtledger/store/postgres"`},
		{"postgresql://u:secret@db/l", `import _ "github.com/jwtledger/jwtledger/store/postgres"`},
		{"mysql://u:secret@db/l", `unsupported store: the store scheme "mysql:"`},
		{"/srv/x.db", "unsupported store: a store spec without a scheme"},
	}
	for _, tc := range tests {
		_, err := store.Open(context.Background(), tc.spec, store.Options{})
		var ue *store.UnknownSchemeError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v, want an UnknownSchemeError saying %q", tc.spec, err, tc.want)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	open := func(context.Context, string, store.Options) (store.Backend, error) { return nil, errors.New("unused") }
	store.Register("test-twice", open)
	defer func() {
		if recover() == nil {
			t.Fatal("a second Register of one scheme did not panic")
		}
	}()
	store.Register("test-twice", open)
}
