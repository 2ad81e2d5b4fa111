package auditor_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// TestAuditorChecks builds the jwtledger command, uses it as an operator
// would, then checks what an auditor receives (the verifier key, the
// checkpoints.log file and a proof bundle) with golang.org/x/mod/sumdb alone,
// then with the public auditor package.
func TestAuditorChecks(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; this test builds the jwtledger binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "jwtledger")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/jwtledger/jwtledger/cmd/jwtledger")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "JWTLEDGER_DATA_DIR="+data)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("jwtledger %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	for _, sub := range []string{"alice", "bob", "carol"} {
		run("issue", "--sub", sub)
	}
	run("audit", "checkpoint")
	vkey := strings.TrimSpace(run("audit", "key"))
	proof := run("audit", "prove", "--seq", "3")

	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	verifiers := note.VerifierList(v)

	// Every checkpoint in checkpoints.log: text block, blank line, signatures.
	raw, err := os.ReadFile(filepath.Join(data, "checkpoints.log"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(strings.TrimSpace(string(raw)), "\n\n")
	if len(blocks) < 2 || len(blocks)%2 != 0 {
		t.Fatalf("checkpoints.log is not a sequence of signed notes:\n%s", raw)
	}
	var lastSize int64
	for i := 0; i < len(blocks); i += 2 {
		msg := blocks[i] + "\n\n" + blocks[i+1] + "\n"
		n, err := note.Open([]byte(msg), verifiers)
		if err != nil {
			t.Fatalf("checkpoint %d does not verify: %v\n%s", i/2+1, err, msg)
		}
		lines := strings.Split(n.Text, "\n")
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if !strings.HasPrefix(lines[0], "jwtledger/") || err != nil || size < lastSize {
			t.Fatalf("not a growing tlog checkpoint: %q", n.Text)
		}
		if _, err := base64.StdEncoding.DecodeString(lines[2]); err != nil {
			t.Fatalf("root hash: %v", err)
		}
		lastSize = size
	}

	// The proof bundle of record 3.
	var b struct {
		Record     string      `json:"record"`
		LeafIndex  int64       `json:"leaf_index"`
		Proof      []tlog.Hash `json:"proof"`
		Checkpoint string      `json:"checkpoint"`
	}
	if err := json.Unmarshal([]byte(proof), &b); err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(b.Checkpoint), verifiers)
	if err != nil {
		t.Fatalf("proof checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	size, _ := strconv.ParseInt(lines[1], 10, 64)
	rootBytes, _ := base64.StdEncoding.DecodeString(lines[2])
	var root tlog.Hash
	copy(root[:], rootBytes)
	if err := tlog.CheckRecord(b.Proof, size, root, b.LeafIndex, tlog.RecordHash([]byte(b.Record))); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	// The auditor package makes the same checks, offline, with the
	// verifier key alone.
	var p auditor.Proof
	if err := json.Unmarshal([]byte(proof), &p); err != nil {
		t.Fatal(err)
	}
	rec, err := auditor.VerifyProof(&p, vkey)
	if err != nil || rec.Seq != 3 || rec.Sub != "bob" {
		t.Fatalf("auditor.VerifyProof: %+v, %v", rec, err)
	}
	notes := auditor.SplitNotes(raw)
	if len(notes) != len(blocks)/2 {
		t.Fatalf("auditor.SplitNotes found %d notes in checkpoints.log, want %d", len(notes), len(blocks)/2)
	}
	for _, msg := range notes {
		n, err := note.Open(msg, verifiers)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := auditor.ParseCheckpoint(n.Text); err != nil || auditor.ChainOfOrigin(c.Origin) == c.Origin {
			t.Fatalf("auditor.ParseCheckpoint(%q): %+v, %v", n.Text, c, err)
		}
	}
	tampered := p
	tampered.Record = strings.Replace(p.Record, "bob", "bib", 1)
	if _, err := auditor.VerifyProof(&tampered, vkey); err == nil {
		t.Fatal("auditor.VerifyProof proved a modified record")
	}
	if !strings.Contains(b.Record, `"seq":3,`) || !strings.Contains(b.Record, `"sub":"bob"`) {
		t.Fatalf("proved record: %s", b.Record)
	}
	// A record changed by one byte is not proved.
	if err := tlog.CheckRecord(b.Proof, size, root, b.LeafIndex, tlog.RecordHash([]byte(strings.Replace(b.Record, "bob", "bib", 1)))); err == nil {
		t.Fatal("a modified record was proved")
	}
}
