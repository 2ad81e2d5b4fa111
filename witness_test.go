package jwtledger_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/trail"
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
func witnessedLedger(t *testing.T, n, quorum int, spec ...string) (*jwtledger.Ledger, []*testWitness) {
	t.Helper()
	dir := t.TempDir()
	storeSpec := ""
	if len(spec) > 0 {
		storeSpec = spec[0]
	}
	master := bytes.Repeat([]byte{7}, 32) // a shared store needs one given
	l0 := openLedger(t, func(c *jwtledger.Config) { c.DataDir, c.Store, c.MasterKey = dir, storeSpec, master })
	vkey, origin := l0.Trail().VerifierKey(), auditor.Origin(l0.NodeID())
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
		c.Store, c.MasterKey, c.Now = storeSpec, master, time.Now
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
func waitWitnessing(t *testing.T, l *jwtledger.Ledger, what string, cond func(trail.WitnessingStatus) bool) trail.WitnessingStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ok := l.Trail().Witnessing()
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
	t.Run("sqlite", func(t *testing.T) { testWitnessesCosign(t, "") })
	t.Run("postgres", func(t *testing.T) { testWitnessesCosign(t, pgtest.Database(t)) })
}

func testWitnessesCosign(t *testing.T, spec string) {
	ctx := context.Background()
	l, ws := witnessedLedger(t, 2, 0, spec)
	var last int64
	for round := range 3 {
		issueN(t, l, 20+round)
		cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		last = cp.Size
		waitWitnessing(t, l, "both witnesses cosign", func(st trail.WitnessingStatus) bool { return st.Witnessed == cp.Size })
	}
	policy, err := auditor.NewPolicy([]auditor.Witness{ws[0].policyWitness(), ws[1].policyWitness()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := l.Trail().Cosigned(ctx, "")
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
	cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitWitnessing(t, l, "both witnesses cosign", func(st trail.WitnessingStatus) bool { return st.Witnessed == cp.Size })

	ws[1].srv.Close() // the second witness goes away
	issueN(t, l, 10)  // issuance goes on
	cp2, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitWitnessing(t, l, "the first witness cosigns and the second fails", func(st trail.WitnessingStatus) bool {
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
	cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitWitnessing(t, l, "one witness is a quorum", func(st trail.WitnessingStatus) bool { return st.Witnessed == cp.Size })
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

func witnessPolicy(t *testing.T, ws []*testWitness, quorum int) *auditor.Policy {
	t.Helper()
	var pw []auditor.Witness
	for _, w := range ws {
		pw = append(pw, auditor.Witness{Name: w.name, Verifier: w.v})
	}
	p, err := auditor.NewPolicy(pw, quorum)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyAuditWithWitnessPolicy(t *testing.T) {
	ctx := context.Background()
	l, ws := witnessedLedger(t, 2, 0)
	issueN(t, l, 30)
	cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitWitnessing(t, l, "both witnesses cosign", func(st trail.WitnessingStatus) bool { return st.Witnessed == cp.Size })
	policy := witnessPolicy(t, ws, 0)
	rep, err := l.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Witnessing) != 1 || !rep.Witnessing[0].Witnessed || rep.Witnessing[0].Newest != cp.Size || len(rep.Witnessing[0].WitnessedBy) != 2 {
		t.Fatalf("verify with the policy: %+v", rep)
	}

	// An export carries the cosignatures, checked offline.
	var exp bytes.Buffer
	if err := l.Trail().Export(ctx, &exp, auditor.ExportJSONL, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	rep, err = auditor.VerifyExport(&exp, l.Trail().VerifierKey(), auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true})
	if err != nil || !rep.OK || len(rep.Witnessing) != 1 || !rep.Witnessing[0].Witnessed {
		t.Fatalf("the export under the policy: %v %+v", err, rep)
	}

	// The proof bundle carries the witnessed checkpoint, checked offline.
	proof, err := l.Trail().Prove(ctx, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditor.VerifyProof(proof, l.Trail().VerifierKey()); err != nil {
		t.Fatal(err)
	}
	if r, err := policy.Verify([]byte(proof.Checkpoint)); err != nil || !r.Witnessed {
		t.Fatalf("the proof's checkpoint under the policy: %v", err)
	}

	ws[1].srv.Close()
	issueN(t, l, 5)
	cp2, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitWitnessing(t, l, "the first witness cosigns", func(st trail.WitnessingStatus) bool { return st.Witnesses[0].Size == cp2.Size })
	rep, err = l.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy})
	if err != nil {
		t.Fatal(err)
	}
	w := rep.Witnessing[0]
	if !rep.OK || w.Witnessed || w.Newest != cp2.Size || w.NewestWitnessed != cp.Size || len(w.Missing) != 1 || w.Missing[0] != ws[1].name {
		t.Fatalf("verify without --require-witnessed after a witness left: ok %v %+v", rep.OK, w)
	}
	rep, err = l.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Damage) != 1 || rep.Damage[0].Kind != auditor.DamageUnwitnessed || rep.Damage[0].Seq != cp2.Size {
		t.Fatalf("verify --require-witnessed after a witness left: %+v", rep.Damage)
	}
	// A quorum of one is met.
	rep, err = l.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: witnessPolicy(t, ws, 1), RequireWitnessed: true})
	if err != nil || !rep.OK {
		t.Fatalf("quorum 1: %v %+v", err, rep)
	}
}

// copyDir copies the files of a closed ledger's data directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The operator rewrites history: a copy of the ledger from before the
// newest records grows another way, re-signed with the same audit key. The
// witness refuses its checkpoints, so it stays unwitnessed, and the
// auditor's kept cosigned checkpoint of the first history is a fork naming
// the witness.
func TestRewrittenHistoryIsAForkNamingTheWitness(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l0 := openLedger(t, func(c *jwtledger.Config) { c.DataDir = dir })
	vkey, origin := l0.Trail().VerifierKey(), auditor.Origin(l0.NodeID())
	issueN(t, l0, 10)
	if _, err := l0.Trail().Checkpoint(ctx, trail.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := l0.Close(); err != nil {
		t.Fatal(err)
	}
	forkDir := t.TempDir()
	copyDir(t, dir, forkDir) // the common prefix

	tw := startWitness(t, "witness-a", origin, vkey)
	open := func(dir string) *jwtledger.Ledger {
		return openLedger(t, func(c *jwtledger.Config) {
			c.DataDir, c.Witnesses, c.Now = dir, []auditor.Witness{tw.policyWitness()}, time.Now
		})
	}
	honest := open(dir)
	issueN(t, honest, 10)
	cp, err := honest.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitWitnessing(t, honest, "the witness cosigns the first history", func(st trail.WitnessingStatus) bool { return st.Witnessed == cp.Size })
	cps, err := honest.Trail().Cosigned(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	kept := []byte(cps[len(cps)-1].Note) // what the auditor keeps
	honest.Close()

	forked := open(forkDir)
	issueN(t, forked, 15) // another history, larger than the first
	fcp, err := forked.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitWitnessing(t, forked, "the witness refuses the rewritten history", func(st trail.WitnessingStatus) bool {
		return st.Witnesses[0].Failures > 0
	})
	if st.Witnessed >= fcp.Size || st.Witnesses[0].Error == "" {
		t.Fatalf("the rewritten history is witnessed: %+v", st)
	}
	policy := witnessPolicy(t, []*testWitness{tw}, 0)
	rep, err := forked.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true, Checkpoints: [][]byte{kept}})
	if err != nil {
		t.Fatal(err)
	}
	var fork, unwitnessed bool
	for _, d := range rep.Damage {
		switch d.Kind {
		case auditor.DamageFork:
			fork = len(d.Witnesses) == 1 && d.Witnesses[0] == tw.name && strings.Contains(d.Detail, tw.name)
		case auditor.DamageUnwitnessed:
			unwitnessed = d.Seq == fcp.Size
		}
	}
	if rep.OK || !fork || !unwitnessed {
		t.Fatalf("verify of the rewritten history: %+v", rep.Damage)
	}
	// Without the kept checkpoint the rewritten history verifies on its
	// own, except that it is not witnessed.
	rep, err = forked.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true})
	if err != nil || rep.OK || len(rep.Damage) != 1 || rep.Damage[0].Kind != auditor.DamageUnwitnessed {
		t.Fatalf("verify of the rewritten history alone: %v %+v", err, rep.Damage)
	}
}

// The cosignatures and each witness's size are kept in the store: a node
// restarted while its witness is away still knows what was witnessed.
func TestWitnessingSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	l, ws := witnessedLedger(t, 1, 0)
	issueN(t, l, 7)
	cp, err := l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	waitWitnessing(t, l, "the witness cosigns", func(st trail.WitnessingStatus) bool { return st.Witnessed == cp.Size })
	dir := l.DataDir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ws[0].srv.Close()
	l2 := openLedger(t, func(c *jwtledger.Config) {
		c.DataDir, c.Witnesses, c.Now = dir, []auditor.Witness{ws[0].policyWitness()}, time.Now
		c.MasterKey = bytes.Repeat([]byte{7}, 32)
	})
	st, _ := l2.Trail().Witnessing()
	if st.Witnessed != cp.Size || st.Witnesses[0].Size != cp.Size || st.WitnessedTime.IsZero() {
		t.Fatalf("after a restart: %+v; want witnessed %d", st, cp.Size)
	}
}
