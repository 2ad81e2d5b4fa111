package jwtledger

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/trail"
)

// TestVerifyRangesSameAsOneScan checks that reading a chain by seq ranges
// on several cores (what audit verify does) reports exactly what one scan of
// the whole chain in seq order does, for damage made with SQL around the
// ranges' edges and for damaged pages of the database file.
func TestVerifyRangesSameAsOneScan(t *testing.T) {
	ctx := context.Background()
	pristine := t.TempDir()
	const n = 40_000 // three ranges of 16,384 seqs
	l, err := Open(ctx, Config{DataDir: pristine, TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var batch []*audit.Record
	for i := range n {
		batch = append(batch, &audit.Record{Time: now, Event: audit.TokenVerify, Outcome: "valid", Actor: "client-1",
			Sub: "user-" + strconv.Itoa(i%50), Aud: []string{"api"}, JTI: "jti-" + strconv.Itoa(i)})
		if len(batch) == 4000 {
			if err := l.db.Append(ctx, l.NodeID(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
			if _, err := l.Trail().Checkpoint(ctx, trail.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pageDamage := func(at float64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			path := filepath.Join(dir, "jwtledger.db")
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			off := int64(float64(info.Size())*at) &^ 4095
			if _, err := f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", 1024*2)), off); err != nil {
				t.Fatal(err)
			}
		}
	}
	sqlDamage := func(stmts ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
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
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		found  bool // a finding is expected (damaged pages may hold no audit row)
	}{
		{"intact", func(*testing.T, string) {}, false},
		{"row deleted at a range's start", sqlDamage(`DELETE FROM audit WHERE seq = 16385`), true},
		{"rows deleted across ranges", sqlDamage(`DELETE FROM audit WHERE seq BETWEEN 16000 AND 16600`), true},
		{"rows swapped across ranges", sqlDamage(`UPDATE audit SET seq = -1 WHERE seq = 32768`, `UPDATE audit SET seq = 32768 WHERE seq = 32769`, `UPDATE audit SET seq = 32769 WHERE seq = -1`), true},
		{"body edited at a range's end", sqlDamage(`UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), 'user-', 'evil-') AS BLOB) WHERE seq = 16384`), true},
		{"seq made huge", sqlDamage(`UPDATE audit SET seq = 9000000000000000000 WHERE seq = 20000`), true},
		{"seq made negative", sqlDamage(`UPDATE audit SET seq = -5 WHERE seq = 10`), true},
		{"pruned", sqlDamage(`UPDATE audit SET body = x'' WHERE seq < 20000`), false},
		{"newest rows deleted", sqlDamage(`DELETE FROM audit WHERE seq > 39500`), true},
		{"pages damaged at 10%", pageDamage(0.1), false},
		{"pages damaged at 20%", pageDamage(0.2), false},
		{"pages damaged at 35%", pageDamage(0.35), false},
		{"pages damaged at 45%", pageDamage(0.45), false},
		{"pages damaged at 60%", pageDamage(0.6), false},
		{"pages damaged at 70%", pageDamage(0.7), false},
		{"pages damaged at 85%", pageDamage(0.85), false},
		{"pages damaged at 95%", pageDamage(0.95), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(pristine)); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir)
			l, err := Open(ctx, Config{DataDir: dir, TextLog: "off"})
			if err != nil {
				t.Skipf("the damaged store does not open: %v", err)
			}
			defer l.Close()
			if l.caps.Ranges == nil {
				t.Fatal("the embedded store cannot read by range")
			}
			db := auditlog.WithCosignatures(l.db, l.caps.Cosignatures)
			one, err := auditlog.Verify(ctx, db, l.caps.Damage, nil, l.auditVKey, auditor.VerifyOptions{})
			if err != nil {
				t.Fatalf("one scan: %v", err)
			}
			ranges, err := auditlog.Verify(ctx, db, l.caps.Damage, l.caps.Ranges, l.auditVKey, auditor.VerifyOptions{})
			if err != nil {
				t.Fatalf("ranges: %v", err)
			}
			if !reflect.DeepEqual(one, ranges) {
				t.Fatalf("by ranges:\n%s\none scan:\n%s", reportText(ranges), reportText(one))
			}
			t.Logf("%s", reportText(one))
			if tt.name == "intact" && !one.OK {
				t.Fatalf("intact ledger: %s", reportText(one))
			}
			if tt.found && one.OK {
				t.Fatalf("damage not found: %s", reportText(one))
			}
		})
	}
}

func reportText(r *auditor.LogReport) string {
	s := fmt.Sprintf("ok %v, %d records, chains %+v\n", r.OK, r.Records, r.Chains)
	for _, d := range r.Damage {
		s += fmt.Sprintf("  %s at %d: %s\n", d.Kind, d.Seq, d.Detail)
	}
	return s
}
