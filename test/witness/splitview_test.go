package witness_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

// ourWitness runs jwtledger's witness on dir (in this process) and
// returns its URL and a function that stops it.
func ourWitness(t *testing.T, dir string, log *witnesstest.Log) (url string, v *auditor.CosignatureVerifier, stop func()) {
	t.Helper()
	master := bytes.Repeat([]byte{42}, keys.MasterKeySize)
	s, err := witness.LoadKey(dir, "witness.test/jwtledger", master)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: dir, Signer: s, Logs: []witness.Log{{Origin: log.Origin, Verifiers: []note.Verifier{log.Verifier}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			w.Close()
		}
	}
	t.Cleanup(stop)
	return srv.URL, s.Verifier(), stop
}

func proveFrom(tree *witnesstest.Tree) witness.ProveFunc {
	return func(ctx context.Context, old int64) (tlog.TreeProof, error) { return tree.Prove(old), nil }
}

// TestSplitView is the operator rewriting history: two trees fork from a
// common prefix, both signed with the same audit key. Both witnesses (ours
// and litewitness) cosign the first branch and refuse the second as
// inconsistent; under a policy of both witnesses the second branch is not
// witnessed, and pasting the first branch's cosignatures on it does not
// help; after a restart our witness still refuses it.
func TestSplitView(t *testing.T) {
	log := witnesstest.NewLog(t, "jwtledger/node-split")
	lw := startLitewitness(t, "witness.test/litewitness")
	lw.addLog(t, log.Origin, log.VerifierKey)
	dir := t.TempDir()
	ourURL, ourKey, stopOurs := ourWitness(t, dir, log)
	clients := map[string]*witness.Client{
		"jwtledger":   {URL: ourURL, Verifier: ourKey},
		"litewitness": {URL: lw.URL, Verifier: lw.Verifier},
	}
	known := map[string]int64{}
	policy, err := auditor.ParsePolicy([]byte("log " + log.VerifierKey + "\n" +
		"witness jwtledger " + ourKey.String() + "\nwitness litewitness " + lw.Verifier.String() + "\nquorum 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	// cosignAll asks both witnesses and returns the checkpoint with the
	// cosignatures it got and the errors of the witnesses that refused.
	cosignAll := func(tree *witnesstest.Tree) ([]byte, map[string]error) {
		signed := log.Sign(t, tree)
		errs := map[string]error{}
		for name, c := range clients {
			lines, size, err := c.Cosign(t.Context(), known[name], proveFrom(tree), signed)
			known[name] = size
			if err != nil {
				errs[name] = err
				continue
			}
			signed = append(signed, lines...)
		}
		return signed, errs
	}

	prefix := &witnesstest.Tree{}
	prefix.AppendN("common", 20)
	if _, errs := cosignAll(prefix); len(errs) > 0 {
		t.Fatalf("common prefix: %v", errs)
	}
	branchA := prefix.Fork()
	branchA.AppendN("a", 10)
	cosignedA, errs := cosignAll(branchA)
	if len(errs) > 0 {
		t.Fatalf("first branch: %v", errs)
	}
	if rep, err := policy.Verify(cosignedA); err != nil || len(rep.Cosignatures) != 2 {
		t.Fatalf("first branch under the policy: %v", err)
	}

	// The second branch is longer: the witnesses answer the stale old size
	// with 409, then refuse the proof from their size with 422.
	branchB := prefix.Fork()
	branchB.AppendN("b", 15)
	known["jwtledger"], known["litewitness"] = 20, 20
	cosignedB, errs := cosignAll(branchB)
	for _, name := range []string{"jwtledger", "litewitness"} {
		var re *witness.ResponseError
		if !errors.As(errs[name], &re) || re.StatusCode != 422 || !errors.Is(errs[name], witness.ErrInconsistent) {
			t.Errorf("%s on the second branch: %v, want 422 (inconsistent proof)", name, errs[name])
		}
	}
	_, err = policy.Verify(cosignedB)
	var uw *auditor.UnwitnessedError
	if !errors.As(err, &uw) || len(uw.Report.Cosignatures) != 0 || len(uw.Report.Missing) != 2 {
		t.Fatalf("second branch under the policy: %v, want unwitnessed with both missing", err)
	}
	// The first branch's cosignatures pasted on the second do not verify.
	_, linesA, _ := bytes.Cut(cosignedA, []byte("\n\n"))
	_, err = policy.Verify(append(log.Sign(t, branchB), linesA[bytes.IndexByte(linesA, '\n')+1:]...))
	if !errors.As(err, &uw) || len(uw.Report.Invalid) != 2 {
		t.Fatalf("second branch with the first's cosignatures: %v, want both invalid", err)
	}

	// A second branch of the same size as the first: the spec says 409 (our
	// witness); litewitness v0.6.1 answers 422. Both are inconsistent.
	sameSize := prefix.Fork()
	sameSize.AppendN("c", 10)
	known["jwtledger"], known["litewitness"] = 30, 30
	_, errs = cosignAll(sameSize)
	for name, want := range map[string]int{"jwtledger": 409, "litewitness": 422} {
		var re *witness.ResponseError
		if !errors.As(errs[name], &re) || re.StatusCode != want || !errors.Is(errs[name], witness.ErrInconsistent) {
			t.Errorf("%s on a same-size fork: %v, want %d", name, errs[name], want)
		}
	}

	// Our witness restarted keeps its state.
	stopOurs()
	ourURL, _, _ = ourWitness(t, dir, log)
	clients["jwtledger"].URL = ourURL
	known["jwtledger"] = 30
	if _, _, err := clients["jwtledger"].Cosign(t.Context(), 30, proveFrom(branchB), log.Sign(t, branchB)); !errors.Is(err, witness.ErrInconsistent) {
		t.Errorf("second branch after restart: %v, want inconsistent", err)
	}
	var ce *witness.ConflictError
	if _, err := clients["jwtledger"].AddCheckpoint(t.Context(), 0, nil, log.Sign(t, prefix)); !errors.As(err, &ce) || ce.KnownSize != 30 {
		t.Errorf("smaller tree after restart: %v, want 409 at 30", err)
	}
	branchA.AppendN("a", 5)
	cosignedA, errs = cosignAll(branchA)
	if len(errs) > 0 {
		t.Fatalf("first branch after restart: %v", errs)
	}
	if _, err := policy.Verify(cosignedA); err != nil {
		t.Fatalf("first branch after restart under the policy: %v", err)
	}
}
