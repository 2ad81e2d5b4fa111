package jwtledger_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/trail"
)

// ledgerWithHistory makes a ledger in dir with 20 records, a checkpoint at
// 20 saved outside (returned), and 5 more records.
func ledgerWithHistory(t *testing.T, dir string) (outside []byte) {
	t.Helper()
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 19; i++ {
		if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil || cp.Size != 20 {
		t.Fatalf("checkpoint: %+v %v", cp, err)
	}
	for i := 0; i < 5; i++ {
		if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "bob"}); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(cp.Note)
}

func verifyDir(t *testing.T, dir string, external ...[]byte) *auditor.LogReport {
	t.Helper()
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := l.Trail().Verify(context.Background(), auditor.VerifyOptions{Checkpoints: external})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func execSQL(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(dir, "jwtledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestVerifyAuditDamage(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, dir string, outside []byte) [][]byte // returns external notes
		wantKind string
		wantSeq  int64
	}{
		{
			name:   "intact",
			damage: func(t *testing.T, dir string, outside []byte) [][]byte { return [][]byte{outside} },
		},
		{
			name: "field updated",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				// Bytes of the subject, whatever the stored form (packed, or canonical JSON).
				execSQL(t, dir, `UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), 'alice', 'admin') AS BLOB) WHERE seq = 7`)
				return nil
			},
			wantKind: auditor.DamageModified, wantSeq: 7,
		},
		{
			// A body that does not parse (a packed body cut short, a
			// JSON body overwritten) is a modified record, not a
			// reordered one: no seq can be read from it.
			name: "body unreadable",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				execSQL(t, dir, `UPDATE audit SET body = X'01ff' WHERE seq = 7`, `UPDATE audit SET body = CAST('{"v":1}' AS BLOB) WHERE seq = 9`)
				return nil
			},
			wantKind: auditor.DamageModified, wantSeq: 7,
		},
		{
			// The leaf column is the tree's only copy of the leaf hash.
			name: "leaf hash replaced",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				execSQL(t, dir, `UPDATE audit SET leaf = zeroblob(32) WHERE seq = 6`)
				return nil
			},
			wantKind: auditor.DamageModified, wantSeq: 6,
		},
		{
			name: "row deleted",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				execSQL(t, dir, `DELETE FROM audit WHERE seq = 5`)
				return nil
			},
			wantKind: auditor.DamageMissing, wantSeq: 5,
		},
		{
			name: "two rows swapped",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				execSQL(t, dir, `UPDATE audit SET seq = -1 WHERE seq = 8`, `UPDATE audit SET seq = 8 WHERE seq = 9`, `UPDATE audit SET seq = 9 WHERE seq = -1`)
				return nil
			},
			wantKind: auditor.DamageReordered, wantSeq: 8,
		},
		{
			name: "newest rows deleted after a checkpoint was saved outside",
			damage: func(t *testing.T, dir string, outside []byte) [][]byte {
				// The attacker also removes the stored checkpoints and winds
				// the tree back (its leaves are the records' own).
				execSQL(t, dir, `DELETE FROM audit WHERE seq > 17`, `DELETE FROM checkpoints`, `DELETE FROM tree_hashes`, `UPDATE tree_size SET size = 17`)
				return [][]byte{outside}
			},
			wantKind: auditor.DamageTruncated, wantSeq: 18,
		},
		{
			name: "checkpoint signature replaced",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				execSQL(t, dir, `UPDATE checkpoints SET note = CAST(substr(CAST(note AS TEXT), 1, length(note) - 10) || 'AAAAAAAAA' || char(10) AS BLOB)`)
				return nil
			},
			wantKind: auditor.DamageBadSignature, wantSeq: 20,
		},
		{
			name: "record and its leaf rewritten consistently",
			damage: func(t *testing.T, dir string, _ []byte) [][]byte {
				// The record's canonical encoding, changed, stored as the
				// body (a canonical body is read as it is) with its leaf.
				l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: dir})
				if err != nil {
					t.Fatal(err)
				}
				p, err := l.Trail().Prove(context.Background(), "", 3)
				l.Close()
				if err != nil {
					t.Fatal(err)
				}
				body := bytes.Replace([]byte(p.Record), []byte(`"alice"`), []byte(`"admin"`), 1)
				db, _ := sql.Open("sqlite3", filepath.Join(dir, "jwtledger.db"))
				defer db.Close()
				leaf := audit.LeafHash(body)
				if _, err := db.Exec(`UPDATE audit SET body = ?, leaf = ? WHERE seq = 3`, body, leaf[:]); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			wantKind: auditor.DamageModified, wantSeq: 1, // located to the records the checkpoint covers
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := ledgerWithHistory(t, dir)
			external := tt.damage(t, dir, outside)
			rep := verifyDir(t, dir, external...)
			if tt.wantKind == "" {
				if !rep.OK || len(rep.Damage) != 0 || rep.Records != 25 {
					t.Fatalf("intact ledger: %+v", rep)
				}
				return
			}
			if rep.OK || len(rep.Damage) == 0 {
				t.Fatalf("damage %s not detected: %+v", tt.name, rep)
			}
			first := rep.Damage[0]
			if first.Kind != tt.wantKind || first.Seq != tt.wantSeq {
				t.Fatalf("first damage %+v, want %s at seq %d (all: %+v)", first, tt.wantKind, tt.wantSeq, rep.Damage)
			}
		})
	}
}

// TestVerifyAuditFork gives a ledger the checkpoint of another history of
// the same size, signed by the same key: a fork.
func TestVerifyAuditFork(t *testing.T) {
	a := t.TempDir()
	ledgerWithHistory(t, a)
	b := t.TempDir()
	for _, f := range []string{"jwtledger.db", "master.key", "node-id"} {
		copyFile(t, filepath.Join(a, f), filepath.Join(b, f))
	}
	ctx := context.Background()
	notes := map[string][]byte{}
	for _, dir := range []string{a, b} {
		l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "history-" + filepath.Base(dir)}); err != nil {
			t.Fatal(err)
		}
		cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		notes[dir] = []byte(cp.Note)
		l.Close()
	}
	rep := verifyDir(t, b, notes[a])
	if len(rep.Damage) == 0 || rep.Damage[0].Kind != auditor.DamageFork || rep.Damage[0].Seq != 26 {
		t.Fatalf("fork not reported at 26: %+v", rep.Damage)
	}
	if rep := verifyDir(t, b, notes[b]); !rep.OK {
		t.Fatalf("own checkpoint refused: %+v", rep.Damage)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// TestCheckpointFile checks that checkpoints.log holds every checkpoint as a
// signed note the verifier key opens.
func TestCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	ledgerWithHistory(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, "checkpoints.log"))
	if err != nil {
		t.Fatal(err)
	}
	notes := auditor.SplitNotes(data)
	// The explicit checkpoint at 20; no other is due yet (5 records, < 10s).
	if len(notes) != 1 || !strings.Contains(string(notes[0]), "\n20\n") {
		t.Fatalf("checkpoints.log holds %d notes:\n%s", len(notes), data)
	}
	if rep := verifyDir(t, dir, notes...); !rep.OK || rep.ExternalCheckpoints != 1 {
		t.Fatalf("%+v", rep)
	}
}

// TestExportVerify round-trips exports through the offline verifier, in
// both formats, whole and by time range, intact and damaged.
func TestExportVerify(t *testing.T) {
	dir := t.TempDir()
	outside := ledgerWithHistory(t, dir)
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	vkey := l.Trail().VerifierKey()
	export := func(format auditor.ExportFormat, since time.Time) []byte {
		var buf bytes.Buffer
		if err := l.Trail().Export(ctx, &buf, format, since, time.Time{}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	jsonl, csvData := export(auditor.ExportJSONL, time.Time{}), export(auditor.ExportCSV, time.Time{})
	future := export(auditor.ExportJSONL, time.Now().Add(time.Hour)) // leaf hashes only
	l.Close()
	lines := strings.Split(strings.TrimSpace(string(jsonl)), "\n")
	tests := []struct {
		name     string
		data     []byte
		key      string
		external [][]byte
		wantKind string
		wantSeq  int64
	}{
		{name: "jsonl", data: jsonl, key: vkey, external: [][]byte{outside}},
		{name: "csv", data: csvData, key: vkey},
		{name: "key from the export", data: jsonl},
		{name: "leaf hashes only", data: future, key: vkey},
		{name: "record edited", data: bytes.Replace(jsonl, []byte(`\"sub\":\"bob\"`), []byte(`\"sub\":\"eve\"`), 1), key: vkey, wantKind: auditor.DamageModified, wantSeq: 21},
		{name: "line dropped", data: []byte(strings.Join(append(lines[:10:10], lines[11:]...), "\n")), key: vkey, wantKind: auditor.DamageMissing, wantSeq: 9},
		{name: "tail cut past the checkpoint", data: []byte(strings.Join(lines[:len(lines)-8], "\n")), key: vkey, wantKind: auditor.DamageTruncated, wantSeq: 18},
		{name: "another key", data: jsonl, key: "other+edee64c2+AX1opL2KiMz1Y8+GQin4RghugKiGb0XuR5W1V4AkRyU2", wantKind: auditor.DamageBadSignature, wantSeq: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := auditor.VerifyExport(bytes.NewReader(tt.data), tt.key, auditor.VerifyOptions{Checkpoints: tt.external})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantKind == "" {
				if !rep.OK || rep.Records != 25 {
					t.Fatalf("intact export: %+v", rep)
				}
				return
			}
			if rep.OK || rep.Damage[0].Kind != tt.wantKind || rep.Damage[0].Seq != tt.wantSeq {
				t.Fatalf("got %+v, want %s at %d", rep.Damage, tt.wantKind, tt.wantSeq)
			}
		})
	}
	if _, err := auditor.VerifyExport(strings.NewReader("garbage"), vkey, auditor.VerifyOptions{}); err == nil {
		t.Fatal("garbage accepted as an export")
	}
}

// TestRetention prunes old record bodies and checks that verification still
// passes and reports them as pruned, that pruning stops at a checkpoint, and
// that exports of a pruned ledger verify too.
func TestRetention(t *testing.T) {
	clock := newStepClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	dir := t.TempDir()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	issue := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "old"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue(9)                                // records 2..10 (1 is key.create)
	l.Trail().Checkpoint(ctx, trail.Meta{}) // at 10, made on day 0
	issue(5)                                // records 11..15, day 0, no checkpoint covers them yet
	clock.Add(500 * 24 * time.Hour)
	issue(5) // records 16..20, day 500
	l.Trail().Checkpoint(ctx, trail.Meta{})

	retain := 400 * 24 * time.Hour // --retain 400d (see the CLI's TestParseRetention)
	res, err := l.Trail().Prune(ctx, retain)
	if err != nil {
		t.Fatal(err)
	}
	// Only up to the checkpoint made before the cut (10), although 11..15 are old too.
	if len(res) != 1 || res[0].UpTo != 10 || res[0].Pruned != 10 {
		t.Fatalf("prune: %+v", res)
	}
	rep, err := l.Trail().Verify(ctx, auditor.VerifyOptions{})
	if err != nil || !rep.OK || rep.Chains[0].Pruned != 10 || rep.Records != 20 {
		t.Fatalf("verify after pruning: %+v %v", rep, err)
	}
	recs, _ := l.Trail().Query(ctx, trail.Filter{})
	if len(recs) != 10 || recs[0].Seq != 11 {
		t.Fatalf("query after pruning: %d records from seq %d", len(recs), recs[0].Seq)
	}
	if _, err := l.Trail().Prove(ctx, "", 3); err == nil {
		t.Fatal("proof of a pruned record")
	}
	var buf bytes.Buffer
	if err := l.Trail().Export(ctx, &buf, auditor.ExportJSONL, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := auditor.VerifyExport(&buf, l.Trail().VerifierKey(), auditor.VerifyOptions{}); err != nil || !rep.OK || rep.Chains[0].Pruned != 10 {
		t.Fatalf("export of a pruned ledger: %+v %v", rep, err)
	}
}

// TestVerifyExportHugeGap makes sure a hostile sequence number near 2^63
// is reported at once, not walked.
func TestVerifyExportHugeGap(t *testing.T) {
	const vkey = "other+edee64c2+AX1opL2KiMz1Y8+GQin4RghugKiGb0XuR5W1V4AkRyU2"
	data := `{"type":"header","format":"jwtledger-audit-export","version":1,"verifier_key":"` + vkey + `"}` + "\n" +
		`{"type":"record","chain":"a","seq":9223372036854775000,"leaf_hash":"AAAA"}` + "\n"
	rep, err := auditor.VerifyExport(strings.NewReader(data), vkey, auditor.VerifyOptions{})
	if err != nil || len(rep.Damage) == 0 || rep.Damage[0].Kind != auditor.DamageMissing || rep.Damage[0].Seq != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
}
