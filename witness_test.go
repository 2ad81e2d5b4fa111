package jwtledger_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
)

// testWitness is a jwtledger witness of one ledger chain on an httptest
// server.
type testWitness struct {
	name string
	srv  *httptest.Server
	w    *witness.Witness
	v    *auditor.CosignatureVerifier
}

func (tw *testWitness) policyWitness() auditor.Witness {
	return auditor.Witness{Name: tw.name, Verifier: tw.v, URL: tw.srv.URL}
}

func startWitness(t *testing.T, name, origin, logVKey string) *testWitness {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := note.NewVerifier(logVKey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: t.TempDir(), Signer: s, Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{lv}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(func() { srv.Close(); w.Close() })
	return &testWitness{name: name, srv: srv, w: w, v: s.Verifier()}
}

// witnessedLedger opens a ledger in a fresh directory with n witnesses of
// its chain and the quorum.
func witnessedLedger(t *testing.T, n, quorum int) (*jwtledger.Ledger, []*testWitness) {
	t.Helper()
	dir := t.TempDir()
	l0 := openLedger(t, func(c *jwtledger.Config) { c.DataDir = dir })
	vkey, origin := l0.AuditVerifierKey(), auditor.Origin(l0.NodeID())
	if err := l0.Close(); err != nil {
		t.Fatal(err)
	}
	var ws []*testWitness
	var cfg []auditor.Witness
	for i := range n {
		tw := startWitness(t, "witness-"+string(rune('a'+i)), origin, vkey)
		ws = append(ws, tw)
		cfg = append(cfg, tw.policyWitness())
	}
	l := openLedger(t, func(c *jwtledger.Config) {
		c.DataDir, c.Witnesses, c.WitnessQuorum = dir, cfg, quorum
		c.Now = time.Now
	})
	return l, ws
}

func issueN(t *testing.T, l *jwtledger.Ledger, n int) {
	t.Helper()
	for range n {
		if _, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitWitnessing polls the ledger's witnessing until cond holds.
func waitWitnessing(t *testing.T, l *jwtledger.Ledger, what string, cond func(jwtledger.WitnessingStatus) bool) jwtledger.WitnessingStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ok := l.Witnessing()
		if !ok {
			t.Fatal("Witnessing: no witnesses configured")
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestWitnessesCosignEveryCheckpoint(t *testing.T) {
	ctx := context.Background()
	l, ws := witnessedLedger(t, 2, 0)
	var last int64
	for round := range 3 {
		issueN(t, l, 20+round)
		cp, err := l.Checkpoint(ctx, jwtledger.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		last = cp.Size
		waitWitnessing(t, l, "both witnesses cosign", func(st jwtledger.WitnessingStatus) bool { return st.Witnessed == cp.Size })
	}
	policy, err := auditor.NewPolicy([]auditor.Witness{ws[0].policyWitness(), ws[1].policyWitness()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := l.CosignedCheckpoints(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	witnessed := 0
	for _, cp := range cps {
		if r, err := policy.Verify([]byte(cp.Note)); err == nil && r.Witnessed {
			witnessed++
		}
	}
	if witnessed != len(cps) || len(cps) < 3 || cps[len(cps)-1].Size != last {
		t.Fatalf("%d of %d checkpoints witnessed under the policy; want all, at least 3, the newest at %d", witnessed, len(cps), last)
	}
	for _, w := range ws {
		if got := w.w.Logs(); len(got) != 1 || got[0].Size != last {
			t.Errorf("witness %s has %+v; want size %d", w.name, got, last)
		}
	}
}

func TestWitnessDownLeavesCheckpointsUnwitnessed(t *testing.T) {
	ctx := context.Background()
	l, ws := witnessedLedger(t, 2, 2)
	issueN(t, l, 10)
	cp, err := l.Checkpoint(ctx, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitWitnessing(t, l, "both witnesses cosign", func(st jwtledger.WitnessingStatus) bool { return st.Witnessed == cp.Size })

	ws[1].srv.Close() // the second witness goes away
	issueN(t, l, 10)  // issuance goes on
	cp2, err := l.Checkpoint(ctx, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitWitnessing(t, l, "the first witness cosigns and the second fails", func(st jwtledger.WitnessingStatus) bool {
		return st.Witnesses[0].Size == cp2.Size && st.Witnesses[1].Failures > 0
	})
	if st.Witnessed != cp.Size || st.Checkpoint != cp2.Size || st.Witnesses[1].Error == "" || st.Witnesses[0].Error != "" {
		t.Fatalf("status %+v; want witnessed %d, checkpoint %d, an error for %s only", st, cp.Size, cp2.Size, ws[1].name)
	}
	issueN(t, l, 1)
}

func TestWitnessQuorumOfOne(t *testing.T) {
	ctx := context.Background()
	l, ws := witnessedLedger(t, 2, 1)
	ws[0].srv.Close()
	issueN(t, l, 5)
	cp, err := l.Checkpoint(ctx, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitWitnessing(t, l, "one witness is a quorum", func(st jwtledger.WitnessingStatus) bool { return st.Witnessed == cp.Size })
	if st.Quorum != "1" {
		t.Errorf("quorum %q; want 1", st.Quorum)
	}
}

func TestWitnessWithoutURLIsRefused(t *testing.T) {
	v, err := auditor.NewCosignatureVerifierKey("w", make(ed25519.PublicKey, ed25519.PublicKeySize))
	if err != nil {
		t.Fatal(err)
	}
	cv, err := auditor.NewCosignatureVerifier(v)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jwtledger.Open(context.Background(), jwtledger.Config{DataDir: t.TempDir(), Witnesses: []auditor.Witness{{Name: "w", Verifier: cv}}})
	if err == nil {
		t.Fatal("Open accepted a witness without a URL")
	}
}
