package audit_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed:\ngot:  %s\nwant: %s", name, got, want)
	}
}

func goldenRecords() []*audit.Record {
	t0 := time.Date(2026, 11, 26, 23, 15, 20, 123456789, time.UTC)
	return []*audit.Record{
		{Seq: 1, Chain: "node-a", Time: t0, Event: audit.KeyCreate, Outcome: audit.OK, Reason: "first use: generated", Actor: "jwtledger", KID: "kid-1", Alg: "ES256"},
		{Seq: 2, Chain: "node-a", Time: t0.Add(time.Millisecond), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "local:alice", Remote: "127.0.0.1:5000",
			Sub: "alice", Aud: []string{"api", "web"}, JTI: "jti-1", KID: "kid-1", Alg: "ES256", Exp: t0.Add(time.Hour),
			TokenSHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", RequestID: "req-1"},
		{Seq: 3, Chain: "node-a", Time: t0.Add(2 * time.Second), Event: audit.TokenVerify, Outcome: "expired", Reason: "token expired at 2026-11-27T00:15:20Z (1s ago)",
			Sub: "mallory\n2026-11-26 23:15:20,123 - INFO - token.issue ok\t\"x\"\x1b[31m\u2028", JTI: "jti-2"},
	}
}

// TestEncodingGolden pins the canonical encoding (version 1): any change
// to it changes every leaf hash, so it must be deliberate.
func TestEncodingGolden(t *testing.T) {
	var out []byte
	for _, r := range goldenRecords() {
		body := audit.Encode(nil, r)
		leaf := audit.LeafHash(body)
		out = append(out, body...)
		out = append(out, '\n')
		out = append(out, []byte(hexString(leaf[:]))...)
		out = append(out, '\n')
		back, err := audit.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(audit.Encode(nil, back), body) {
			t.Errorf("record %d does not round-trip", r.Seq)
		}
	}
	golden(t, "encoding-v1.golden", out)
}

// TestTextLogGolden pins the classic text-log line format.
func TestTextLogGolden(t *testing.T) {
	time.Local = time.UTC
	var out []byte
	for _, r := range goldenRecords() {
		out = audit.AppendText(out, r)
	}
	if n := bytes.Count(out, []byte("\n")); n != 3 {
		t.Fatalf("%d lines for 3 records: a value split a line", n)
	}
	golden(t, "textlog.golden", out)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
