package main

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/cli-reference.md")

// TestCLIReference: docs/cli-reference.md is what the command table
// generates; -update (go generate) rewrites it.
func TestCLIReference(t *testing.T) {
	const path = "../../docs/cli-reference.md"
	var b bytes.Buffer
	writeReference(&b)
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("%s is stale: run 'go generate ./cmd/jwtledger'", path)
	}
}
