// Package upgrade checks that a ledger made by the previous release opens
// with this one: its store is migrated, every record and checkpoint it
// had still verifies (the canonical encoding and leaf hashes did not
// change), a proof bundle it made still checks, its records are indexed
// (with the audit index on) and found by every filter, and the chain goes
// on.
package upgrade

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

const fixture = "testdata/schema7"

// release7 lays out the schema-7 ledger of testdata/schema7 in a data
// directory and returns it.
func release7(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(fixture, "jwtledger.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "jwtledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(script)); err != nil {
		t.Fatalf("load the schema-7 dump: %v", err)
	}
	if v := userVersion(t, db); v != 7 {
		t.Fatalf("fixture schema version %d, want 7", v)
	}
	for _, f := range []string{"master.key", "checkpoints.log"} {
		b, err := os.ReadFile(filepath.Join(fixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func buildJWTLedger(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; this test builds the jwtledger binary")
	}
	bin := filepath.Join(t.TempDir(), "jwtledger")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/jwtledger/jwtledger/cmd/jwtledger").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type record struct {
	Seq     int    `json:"seq"`
	Event   string `json:"event"`
	Outcome string `json:"outcome"`
	Sub     string `json:"sub"`
	JTI     string `json:"jti"`
}

func TestPreviousReleaseLedgerMigratesAndVerifies(t *testing.T) {
	bin := buildJWTLedger(t)
	dir := release7(t)
	vkey := filepath.Join(fixture, "audit.vkey")
	index := "true" // the index is opt-in: on here, so that its catch-up is checked
	run := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "JWTLEDGER_DATA_DIR="+dir, "JWTLEDGER_NODE_ID=node-r7", "JWTLEDGER_MASTER_KEY=",
			"JWTLEDGER_AUDIT_INDEX="+index)
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("jwtledger %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return string(out)
	}

	// The first command opens (and migrates) the store: every record and
	// every checkpoint the previous release wrote still verifies, pinned
	// to its audit key.
	out := run(0, "audit", "verify", "--key-file", vkey, "--checkpoint", filepath.Join(fixture, "checkpoints.log"), "--quiet")
	if !strings.Contains(out, "ok: 32 records verified") {
		t.Fatalf("audit verify after the migration:\n%s", out)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "jwtledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := userVersion(t, db); v <= 6 {
		t.Fatalf("schema version %d after open", v)
	}
	// The previous release kept every leaf hash in tree_hashes too; with
	// 32 records it held no hash of a stored level (8 and up): the open
	// deleted them all, and verify read the leaves from the records.
	var treeRows int
	if err := db.QueryRow("SELECT COUNT(*) FROM tree_hashes").Scan(&treeRows); err != nil {
		t.Fatal(err)
	}
	if treeRows != 0 {
		t.Fatalf("%d rows left in tree_hashes after the migration, want 0", treeRows)
	}
	// The opening process (the index on, through its environment twin)
	// indexed the old records into the index file (the database's own
	// index tables are gone): every chain's index mark is at its head, so
	// the queries below read audit_index.
	var left int
	if err := db.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('audit_index', 'audit_indexed')").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d index tables left in the database (%v), want 0", left, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("ATTACH DATABASE ? AS idx", filepath.Join(dir, "jwtledger.db-index")); err != nil {
		t.Fatal(err)
	}
	var behind, entries int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT chain, MAX(seq) AS head FROM audit GROUP BY chain) h
		LEFT JOIN audit_indexed i ON i.chain = h.chain WHERE COALESCE(i.seq, 0) <> h.head`).Scan(&behind); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM audit_index").Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if behind != 0 || entries < 32 {
		t.Fatalf("after the migration %d chains are not indexed to their head, %d index rows", behind, entries)
	}

	// The proof bundle the previous release made checks offline.
	if out := run(0, "audit", "verify-proof", "--key-file", vkey, filepath.Join(fixture, "proof-seq5.json")); !strings.Contains(out, "ok") {
		t.Fatalf("verify-proof of the old bundle:\n%s", out)
	}

	// query runs audit query with args: "seq event outcome" of each record.
	query := func(args ...string) []string {
		t.Helper()
		var recs []record
		if err := json.Unmarshal([]byte(run(0, append([]string{"audit", "query", "--output", "json"}, args...)...)), &recs); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, strings.Join([]string{itoa(r.Seq), r.Event, r.Outcome}, " "))
		}
		return got
	}

	// Old records are found by each filter.
	for _, tc := range []struct {
		args []string
		want []string // seq event outcome of each record
	}{
		{[]string{"--jti", "BHLW5FjL9K7jyAGhE24gpQ"}, []string{"4 token.issue ok", "5 token.verify expired"}},
		{[]string{"--event", "token.verify", "--outcome", "expired"}, []string{"5 token.verify expired"}},
		{[]string{"--sub", "carol", "--event", "token.verify"}, []string{"8 token.verify valid", "10 token.verify revoked"}},
		{[]string{"--event", "client.create"}, []string{"12 client.create ok"}},
		{[]string{"--sub", "bulk20"}, []string{"32 token.issue ok"}},
	} {
		got := query(tc.args...)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("audit query %v: %q, want %q", tc.args, got, tc.want)
		}
	}

	// The chain goes on: a new issuance verifies with a key the previous
	// release sealed, and the whole chain verifies again.
	tok := strings.TrimSpace(run(0, "issue", "--sub", "after-upgrade"))
	run(0, "verify", tok)
	out = run(0, "audit", "verify", "--key-file", vkey, "--checkpoint", filepath.Join(fixture, "checkpoints.log"), "--quiet")
	if !strings.Contains(out, "ok: 34 records verified") {
		t.Fatalf("audit verify after new records:\n%s", out)
	}

	// The old records keep their canonical bodies, the new ones are
	// packed (docs/ledger-format.md), and the filters read both forms
	// from the bodies when the index is off.
	var canonical, packed int
	if err := db.QueryRow("SELECT COUNT(*) FILTER (WHERE substr(body, 1, 1) = X'7B'), COUNT(*) FILTER (WHERE substr(body, 1, 1) = X'01') FROM audit").Scan(&canonical, &packed); err != nil {
		t.Fatal(err)
	}
	if canonical != 32 || packed != 2 {
		t.Fatalf("%d canonical and %d packed bodies, want 32 and 2", canonical, packed)
	}
	index = "false"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sub", "carol", "--event", "token.verify"}, "8 token.verify valid|10 token.verify revoked"},
		{[]string{"--sub", "after-upgrade"}, "33 token.issue ok|34 token.verify valid"},
		{[]string{"--outcome", "revoked"}, "10 token.verify revoked"},
	} {
		got := query(tc.args...)
		if strings.Join(got, "|") != tc.want {
			t.Errorf("audit query %v with the index off: %q, want %q", tc.args, got, tc.want)
		}
	}

	// store repack rewrites the old bodies packed; the chain, its old
	// checkpoints and the old proof bundle still verify.
	index = "true"
	// --vacuum refuses while another process (this test's connection)
	// has the ledger open.
	refuse := exec.Command(bin, "store", "repack", "--vacuum")
	refuse.Env = append(os.Environ(), "HOME="+t.TempDir(), "JWTLEDGER_DATA_DIR="+dir, "JWTLEDGER_NODE_ID=node-r7", "JWTLEDGER_MASTER_KEY=")
	if out, err := refuse.CombinedOutput(); err == nil || !strings.Contains(string(out), fmt.Sprintf("another process (pid %d) has the ledger open", os.Getpid())) {
		t.Fatalf("store repack --vacuum while this test has the ledger open: %v\n%s", err, out)
	}
	db.Close()
	if out := run(0, "store", "repack", "--vacuum"); !strings.Contains(out, "34 records: 32 repacked") || !strings.Contains(out, "2 packed already") {
		t.Fatalf("store repack:\n%s", out)
	}
	if db, err = sql.Open("sqlite3", filepath.Join(dir, "jwtledger.db")); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*) FILTER (WHERE substr(body, 1, 1) = X'7B'), COUNT(*) FILTER (WHERE substr(body, 1, 1) = X'01') FROM audit").Scan(&canonical, &packed); err != nil {
		t.Fatal(err)
	}
	if canonical != 0 || packed != 34 {
		t.Fatalf("after store repack %d canonical and %d packed bodies, want 0 and 34", canonical, packed)
	}
	out = run(0, "audit", "verify", "--key-file", vkey, "--checkpoint", filepath.Join(fixture, "checkpoints.log"), "--quiet")
	if !strings.Contains(out, "ok: 34 records verified") {
		t.Fatalf("audit verify after store repack:\n%s", out)
	}
	if out := run(0, "audit", "verify-proof", "--key-file", vkey, filepath.Join(fixture, "proof-seq5.json")); !strings.Contains(out, "ok") {
		t.Fatalf("verify-proof of the old bundle after store repack:\n%s", out)
	}
	if out := run(0, "store", "repack"); !strings.Contains(out, "34 records: 0 repacked") {
		t.Fatalf("store repack again:\n%s", out)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
