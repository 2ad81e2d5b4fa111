package jwtledger_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/store/sqlite"
	"github.com/jwtledger/jwtledger/token"
)

// Choose the store: the embedded SQLite file of store/sqlite, with its own
// options. Without OpenStore the backend registered for the spec's scheme
// opens it (import _ "github.com/jwtledger/jwtledger/store/sqlite", or
// store/postgres for a postgres:// spec).
func Example_store() {
	dir, _ := os.MkdirTemp("", "jwtledger-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	l, err := jwtledger.Open(ctx, jwtledger.Config{
		DataDir:   dir,
		Store:     "sqlite:" + filepath.Join(dir, "tokens.db"),
		OpenStore: sqlite.Opener(sqlite.Options{MinFree: 16 << 20}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	issued, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = l.Verify(ctx, issued.Token)
	fmt.Println(token.OutcomeOf(err))
	_, err = os.Stat(filepath.Join(dir, "tokens.db"))
	fmt.Println(err == nil)
	// Output:
	// valid
	// true
}
