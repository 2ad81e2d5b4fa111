//go:build cgo

package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/internal/packed"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// A ledger of canonical bodies (as earlier releases wrote them) is
// repacked: every body that is its leaf's encoding becomes packed and
// reads back as the same encoding; a damaged body and a pruned one stay as
// they are; a second run finds nothing to do; vacuum shrinks the file.
func TestRepack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jwtledger.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 9000 // three repack transactions
	t0 := time.Unix(1764547200, 0)
	for i := 0; i < n; i += 500 {
		var recs []*audit.Record
		for j := i; j < i+500; j++ {
			tok := sha256.Sum256(fmt.Appendf(nil, "token %d", j))
			recs = append(recs, &audit.Record{Time: t0.Add(time.Duration(j) * time.Millisecond), Event: audit.TokenIssue, Outcome: audit.OK,
				Actor: "client-1", Sub: fmt.Sprintf("user-%d", j), Aud: []string{"api"}, JTI: fmt.Sprintf("jti-%d", j), Alg: "ES256",
				Exp: t0.Add(time.Hour), TokenSHA256: hex.EncodeToString(tok[:])})
		}
		if err := db.Append(ctx, "n", recs); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	// The bodies as an earlier release wrote them; record 5 altered under
	// its leaf hash, record 7 pruned.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	want := map[int64][]byte{}
	for seq, body := range bodies(t, raw) {
		if !packed.IsPacked(body) {
			t.Fatalf("record %d was not appended packed", seq)
		}
		want[seq] = packed.Encoding(nil, body)
	}
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for seq, body := range want {
		if _, err := tx.Exec("UPDATE audit SET body = ? WHERE seq = ?", body, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Replace(want[5], []byte(`"sub":"user-`), []byte(`"sub":"evil-`), 1)
	for _, stmt := range []struct {
		q    string
		args []any
	}{{"UPDATE audit SET body = ? WHERE seq = 5", []any{damaged}}, {"UPDATE audit SET body = X'' WHERE seq = 7", nil}} {
		if _, err := raw.Exec(stmt.q, stmt.args...); err != nil {
			t.Fatal(err)
		}
	}
	var leavesBefore []byte
	if err := raw.QueryRow("SELECT group_concat(hex(leaf), '') FROM (SELECT leaf FROM audit ORDER BY seq)").Scan(&leavesBefore); err != nil {
		t.Fatal(err)
	}

	db, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var calls int
	rep, err := db.Repack(ctx, false, func(done, total int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != n || rep.Repacked != n-2 || rep.Damaged != 1 || rep.Pruned != 1 || rep.Packed != 0 || rep.KeptCanonical != 0 || calls != 3 {
		t.Fatalf("report %+v, %d progress calls", rep, calls)
	}
	if rep.BytesAfter*10 > rep.BytesBefore*7 {
		t.Errorf("packed bodies %d bytes, canonical %d", rep.BytesAfter, rep.BytesBefore)
	}
	for seq, body := range bodies(t, raw) {
		switch seq {
		case 5:
			if !bytes.Equal(body, damaged) {
				t.Errorf("the damaged body was rewritten: %q", body)
			}
		case 7:
			if len(body) != 0 {
				t.Errorf("the pruned body came back: %q", body)
			}
		default:
			if !packed.IsPacked(body) || !bytes.Equal(packed.Encoding(nil, body), want[seq]) {
				t.Errorf("record %d: %x does not read as %q", seq, body, want[seq])
			}
		}
	}
	var leavesAfter []byte
	if err := raw.QueryRow("SELECT group_concat(hex(leaf), '') FROM (SELECT leaf FROM audit ORDER BY seq)").Scan(&leavesAfter); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leavesBefore, leavesAfter) {
		t.Fatal("leaf hashes changed")
	}

	again, err := db.Repack(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Repacked != 0 || again.Packed != n-2 || again.Damaged != 1 || !again.Vacuumed {
		t.Fatalf("second run: %+v", again)
	}
	if again.FileAfter >= again.FileBefore {
		t.Errorf("vacuum left the file at %d bytes (was %d)", again.FileAfter, again.FileBefore)
	}
}

// TestRepackVacuumInUse: with another process holding the ledger open,
// --vacuum refuses (and repacks nothing); repack without it works; once
// the other process is gone, vacuum works.
func TestRepackVacuumInUse(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the check needs POSIX locks")
	}
	if path := os.Getenv("JWTLEDGER_TEST_HOLD_LEDGER"); path != "" {
		holdLedger(path) // the other process
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jwtledger.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Append(ctx, "n", []*audit.Record{{Time: time.Unix(1764547200, 0), Event: audit.KeyCreate, Outcome: audit.OK}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRepackVacuumInUse$")
	cmd.Env = append(os.Environ(), "JWTLEDGER_TEST_HOLD_LEDGER="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(ready, "holding") {
		t.Fatalf("the other process: %q, %v", ready, err)
	}
	_, err = db.Repack(ctx, true, nil)
	var inUse *sqlite.InUseError
	if !errors.As(err, &inUse) || !errors.Is(err, sqlite.ErrInUse) || inUse.PID != cmd.Process.Pid {
		t.Fatalf("Repack with vacuum while pid %d has the ledger open: %v", cmd.Process.Pid, err)
	}
	if _, err := db.Repack(ctx, false, nil); err != nil {
		t.Fatalf("Repack without vacuum: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if rep, err := db.Repack(ctx, true, nil); err != nil || !rep.Vacuumed {
		t.Fatalf("Repack with vacuum once alone: %+v, %v", rep, err)
	}
}

// holdLedger opens the ledger at path, reads from it, says "holding" and
// keeps it open until its stdin closes.
func holdLedger(path string) {
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if _, err := db.TreeSize(context.Background(), "n"); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	bufio.NewReader(os.Stdin).ReadString('\n')
	db.Close()
	os.Exit(0)
}

// bodies reads every record's stored body, by seq.
func bodies(t *testing.T, raw *sql.DB) map[int64][]byte {
	t.Helper()
	rows, err := raw.Query("SELECT seq, body FROM audit ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			t.Fatal(err)
		}
		out[seq] = body
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
