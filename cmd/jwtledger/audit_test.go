package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/trail"
)

// TestTailFollowColumns: audit tail -f prints batches separately, so its
// columns must line up whatever the values' lengths in each batch.
func TestTailFollowColumns(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	first := []*trail.Record{{Seq: 1, Time: at, Event: "key.create", Outcome: "ok", Actor: "jwtledger"}}
	later := []*trail.Record{
		{Seq: 12345, Time: at, Event: "token.verify", Outcome: "invalid_signature", Sub: "a-rather-long-subject-name", JTI: "I1T7u1odBoDVuPwvnCD4BA", KID: "u3gjXXXXXXXXXXXXXXX", Actor: "cl_abc", Reason: "signature does not match"},
		{Seq: 2, Time: at, Event: "auth.denied", Outcome: "denied", Actor: "x", Reason: "POST /v1/tokens: invalid credentials"},
	}
	var out strings.Builder
	if err := printFollowed(&out, first, "table", true); err != nil {
		t.Fatal(err)
	}
	if err := printFollowed(&out, later, "table", false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	// Every column starts at the same rune offset on every line, after a
	// space.
	var offsets []int
	o := 0
	for _, col := range followColumns {
		offsets = append(offsets, o)
		o += col.width + 2
	}
	want := [][]string{
		{"SEQ", "TIME", "EVENT", "OUTCOME", "SUB", "JTI", "KID", "ACTOR", "REASON"},
		{"1", at.Local().Format("2006-01-02 15:04:05.000"), "key.create", "ok", "-", "-", "-", "jwtledger", "-"},
		{"12345", at.Local().Format("2006-01-02 15:04:05.000"), "token.verify", "invalid_signature", "a-rather-long-s…", "I1T7u1odBoDVuPwvnCD4BA", "u3gjXXXXXXXX…", "cl_abc", "signature does not match"},
		{"2", at.Local().Format("2006-01-02 15:04:05.000"), "auth.denied", "denied", "-", "-", "-", "x", "POST /v1/tokens: invalid credentials"},
	}
	for i, line := range lines {
		r := []rune(line)
		for j, start := range offsets {
			end := len(r)
			if j+1 < len(offsets) {
				end = min(offsets[j+1], len(r))
			}
			if start > 0 && r[start-1] != ' ' {
				t.Fatalf("line %d, column %d does not start after a space:\n%s", i, j, out.String())
			}
			if got := strings.TrimSpace(string(r[start:end])); got != want[i][j] {
				t.Fatalf("line %d, column %s: %q, want %q:\n%s", i, followColumns[j].name, got, want[i][j], out.String())
			}
		}
	}
}

func TestParseRetention(t *testing.T) {
	if _, err := parseRetention("0d"); err == nil {
		t.Fatal("0d accepted")
	}
	if d, err := parseRetention("400d"); err != nil || d != 400*24*time.Hour {
		t.Fatalf("400d: %v %v", d, err)
	}
}
