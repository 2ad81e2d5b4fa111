package witness_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
	"github.com/jwtledger/jwtledger/trail"
)

// ledgerTree rebuilds a chain's Merkle tree from a ledger export (the leaf
// hash of every record), as an auditor holding only the export would.
type ledgerTree struct {
	hashes []tlog.Hash
	size   int64
}

func (lt *ledgerTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(lt.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = lt.hashes[x]
	}
	return out, nil
}

func exportTree(t *testing.T, l *jwtledger.Ledger, chain string) *ledgerTree {
	t.Helper()
	var buf bytes.Buffer
	if err := l.Trail().Export(t.Context(), &buf, auditor.ExportJSONL, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	lt := &ledgerTree{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Type     string `json:"type"`
			Chain    string `json:"chain"`
			Seq      int64  `json:"seq"`
			LeafHash []byte `json:"leaf_hash"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line.Type != "record" || line.Chain != chain {
			continue
		}
		if line.Seq != lt.size+1 || len(line.LeafHash) != tlog.HashSize {
			t.Fatalf("export record %d after %d", line.Seq, lt.size)
		}
		hs, err := tlog.StoredHashesForRecordHash(lt.size, tlog.Hash(line.LeafHash), lt)
		if err != nil {
			t.Fatal(err)
		}
		lt.hashes = append(lt.hashes, hs...)
		lt.size++
	}
	return lt
}

// TestLedgerCheckpointsWitnessed sends the checkpoints of a real ledger
// (jwtledger.Open, tokens issued, Log.Checkpoint) to litewitness and to
// our witness, with consistency proofs computed from the ledger's export,
// and checks the result with a policy holding the ledger's audit key and
// both witnesses: what an auditor would do.
func TestLedgerCheckpointsWitnessed(t *testing.T) {
	ctx := t.Context()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir(), NodeID: "node-w", TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	issue := func(n int) {
		for i := range n {
			if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: fmt.Sprintf("user-%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue(3)
	cp1, err := l.Trail().Checkpoint(ctx, trail.Meta{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := auditor.SplitNote([]byte(cp1.Note))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := auditor.ParseCheckpoint(text)
	if err != nil {
		t.Fatal(err)
	}
	origin := c1.Origin

	lw := startLitewitness(t, "witness.test/litewitness")
	lw.addLog(t, origin, l.Trail().VerifierKey())
	v, err := note.NewVerifier(l.Trail().VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	ourURL, ourKey, _ := ourWitness(t, t.TempDir(), &witnesstest.Log{Origin: origin, Verifier: v, VerifierKey: l.Trail().VerifierKey()})
	clients := []*witness.Client{{URL: lw.URL, Verifier: lw.Verifier}, {URL: ourURL, Verifier: ourKey}}
	policy, err := auditor.ParsePolicy([]byte("log " + l.Trail().VerifierKey() + "\nwitness litewitness " + lw.Verifier.String() +
		"\nwitness jwtledger " + ourKey.String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}

	known := make([]int64, len(clients))
	witnessAll := func(cp *trail.Checkpoint) {
		t.Helper()
		tree := exportTree(t, l, cp.Chain)
		if root, err := tlog.TreeHash(cp.Size, tree); err != nil || root != cp.Root {
			t.Fatalf("tree rebuilt from the export: root %v, %v; checkpoint %v", root, err, cp.Root)
		}
		prove := func(ctx context.Context, old int64) (tlog.TreeProof, error) {
			return tlog.ProveTree(cp.Size, old, tree)
		}
		signed := []byte(cp.Note)
		for i, c := range clients {
			lines, size, err := c.Cosign(ctx, known[i], prove, []byte(cp.Note))
			if err != nil {
				t.Fatalf("witness %s, checkpoint at %d: %v", c.Verifier.Name(), cp.Size, err)
			}
			known[i] = size
			signed = append(signed, lines...)
		}
		rep, err := policy.Verify(signed)
		if err != nil {
			t.Fatalf("checkpoint at %d under the policy: %v", cp.Size, err)
		}
		if rep.LogKey != v.Name() || len(rep.Cosigned()) != 2 {
			t.Fatalf("report %+v", rep)
		}
	}
	witnessAll(cp1)
	issue(40)
	cp2, err := l.Trail().Checkpoint(ctx, trail.Meta{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if cp2.Size <= cp1.Size {
		t.Fatalf("second checkpoint at %d after %d", cp2.Size, cp1.Size)
	}
	witnessAll(cp2)
}
