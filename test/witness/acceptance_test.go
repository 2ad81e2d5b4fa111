package witness_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/trail"
)

// witnessServe is a running `jwtledger witness serve`.
type witnessServe struct {
	URL      string
	Verifier *auditor.CosignatureVerifier
	cmd      *exec.Cmd
}

// buildJWTLedger builds the jwtledger command into dir.
func buildJWTLedger(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; this test builds the jwtledger binary")
	}
	bin := filepath.Join(dir, "jwtledger")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/jwtledger/jwtledger/cmd/jwtledger").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startWitnessServe runs `jwtledger witness serve` for one log, with its
// data (key and state) in dir.
func startWitnessServe(t *testing.T, bin, dir, origin, logVKey string) *witnessServe {
	t.Helper()
	cmd := exec.Command(bin, "witness", "serve", "--addr", "127.0.0.1:0", "--name", "witness.test/jwtledger", "--log-level", "error", "--log", origin+"="+logVKey)
	cmd.Env = append(os.Environ(), "JWTLEDGER_DATA_DIR="+dir, "JWTLEDGER_MASTER_KEY=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var url, vkey string
	sc := bufio.NewScanner(out)
	for (url == "" || vkey == "") && sc.Scan() {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`verifier key: (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			vkey = m[1]
		}
	}
	go func() { // keep draining
		for sc.Scan() {
		}
	}()
	v, err := auditor.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatalf("witness serve printed verifier key %q: %v", vkey, err)
	}
	return &witnessServe{URL: url, Verifier: v, cmd: cmd}
}

// issueConcurrently issues n tokens from 8 goroutines and returns the
// rate in tokens per second.
func issueConcurrently(t *testing.T, l *jwtledger.Ledger, n int) float64 {
	t.Helper()
	const workers = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "load"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// compareIssuance issues perRound tokens from each ledger in each of
// rounds interleaved rounds (the order alternating) and returns the
// median of the per-round throughput ratios a÷b: each round pairs two
// runs taken back to back, so a drift in machine speed hits both alike.
func compareIssuance(t *testing.T, what string, a, b *jwtledger.Ledger, rounds, perRound int) float64 {
	t.Helper()
	var ra, rb, pairs []float64
	for i := range rounds {
		var x, y float64
		if i%2 == 0 {
			x = issueConcurrently(t, a, perRound)
			y = issueConcurrently(t, b, perRound)
		} else {
			y = issueConcurrently(t, b, perRound)
			x = issueConcurrently(t, a, perRound)
		}
		ra, rb, pairs = append(ra, x), append(rb, y), append(pairs, x/y)
	}
	ratio := median(pairs)
	t.Logf("%s: rounds %.0f, without witnesses %.0f tokens/s", what, ra, rb)
	t.Logf("issuance with %s: %.0f tokens/s, without witnesses %.0f (medians of %d interleaved rounds of %d); median of per-round ratios %.3f, ratio of medians %.3f",
		what, median(ra), median(rb), rounds, perRound, ratio, median(ra)/median(rb))
	return ratio
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestAcceptanceTwoWitnessesQuorumTwo is the issue's acceptance run: a
// single SQLite node witnessed by torchwood's litewitness and by
// `jwtledger witness serve`, quorum 2. It issues 10,000 tokens while a
// node without witnesses issues as many, interleaved, and compares their
// throughput; every checkpoint older than 10 s then carries both
// cosignatures, the newest gets both within 30 s, and verification under
// the policy with --require-witnessed passes. With one witness stopped,
// new checkpoints are unwitnessed (status and verification say so) and
// issuance goes on.
var (
	acceptanceRounds   = flag.Int("acceptance.rounds", 10, "interleaved rounds of the witnessing throughput comparison")
	acceptancePerRound = flag.Int("acceptance.per-round", 1000, "tokens per round of the witnessing throughput comparison")
)

func TestAcceptanceTwoWitnessesQuorumTwo(t *testing.T) {
	if testing.Short() {
		t.Skip("acceptance run: 20,000 tokens and two witness processes")
	}
	ctx := t.Context()
	lw := startLitewitness(t, "witness.test/litewitness") // skips without litewitness
	tmp := t.TempDir()
	bin := buildJWTLedger(t, tmp)

	dir := filepath.Join(tmp, "witnessed")
	cfg := jwtledger.Config{DataDir: dir, NodeID: "node-acc", TextLog: "off"}
	l0, err := jwtledger.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	vkey, origin := l0.Trail().VerifierKey(), auditor.Origin(l0.NodeID())
	l0.Close()
	lw.addLog(t, origin, vkey)
	ours := startWitnessServe(t, bin, filepath.Join(tmp, "witness-data"), origin, vkey)

	policyText := fmt.Sprintf("log %s\nwitness litewitness %s\nwitness jwtledger %s\nquorum 2\n", vkey, lw.Verifier, ours.Verifier)
	policy, err := auditor.ParsePolicy([]byte(policyText))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Witnesses = []auditor.Witness{
		{Name: "litewitness", Verifier: lw.Verifier, URL: lw.URL},
		{Name: "jwtledger", Verifier: ours.Verifier, URL: ours.URL},
	}
	cfg.WitnessQuorum = 2
	l, err := jwtledger.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	plain, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: filepath.Join(tmp, "plain"), NodeID: "node-plain", TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()

	// Interleaved rounds: the two ledgers share the machine alike. Longer
	// runs for a finer ratio: -acceptance.rounds 40 -acceptance.per-round 2000.
	rounds, perRound := *acceptanceRounds, *acceptancePerRound
	issueConcurrently(t, plain, 200) // warm up both
	issueConcurrently(t, l, 200)
	ratio := compareIssuance(t, "two witnesses", l, plain, rounds, perRound)
	if ratio < 0.5 {
		t.Errorf("witnessing halves issuance: ratio %.3f", ratio)
	}

	// The newest checkpoint after the load gets both cosignatures within
	// a bounded time.
	cp, err := l.Trail().Checkpoint(ctx, trail.Meta{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, "both cosignatures of the newest checkpoint", func() bool {
		st, _ := l.Trail().Witnessing()
		return st.Witnessed == cp.Size
	})
	t.Logf("the newest checkpoint (%d records) was witnessed %v after it was made", cp.Size, time.Since(start).Round(time.Millisecond))

	cps, err := l.Trail().Cosigned(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// Every checkpoint carries both cosignatures, each made within 10 s
	// of the checkpoint (cosignature timestamps are whole seconds).
	var slowest time.Duration
	for _, c := range cps {
		r, err := policy.Verify([]byte(c.Note))
		if err != nil || !r.Witnessed || len(r.Cosignatures) != 2 {
			t.Errorf("checkpoint of %d records is not witnessed by both: %v", c.Size, err)
			continue
		}
		for _, co := range r.Cosignatures {
			d := co.Time.Sub(c.Time.Truncate(time.Second))
			slowest = max(slowest, d)
			if d > 10*time.Second {
				t.Errorf("checkpoint of %d records: %s cosigned it %v after it was made", c.Size, co.Witness, d)
			}
		}
	}
	t.Logf("%d checkpoints, all with both cosignatures; the slowest cosignature came within %v (timestamps to the second)", len(cps), slowest)

	rep, err := l.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Records < int64(rounds*perRound) {
		t.Fatalf("verify --require-witnessed: %+v", rep)
	}

	// A proof bundle checked offline with the policy alone.
	proof, err := l.Trail().Prove(ctx, "", 5)
	if err != nil {
		t.Fatal(err)
	}
	policyFile, bundle := filepath.Join(tmp, "policy.txt"), filepath.Join(tmp, "proof.json")
	pj, _ := json.Marshal(proof)
	if err := os.WriteFile(policyFile, []byte(policyText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundle, pj, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "audit", "verify-proof", "--key", vkey, "--witness-policy", policyFile, "--require-witnessed", bundle).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "witnessed: the checkpoint is cosigned by litewitness, jwtledger\n") {
		t.Fatalf("audit verify-proof --witness-policy: %v\n%s", err, out)
	}

	// Stop our witness: new checkpoints are cosigned by litewitness alone,
	// unwitnessed under quorum 2, and issuance goes on.
	ours.cmd.Process.Kill()
	ours.cmd.Wait()
	downRounds := max(rounds/2, 5)
	ratioDown := compareIssuance(t, "one witness stopped", l, plain, downRounds, perRound)
	if ratioDown < 0.5 {
		t.Errorf("a stopped witness halves issuance: ratio %.3f", ratioDown)
	}
	cp2, err := l.Trail().Checkpoint(ctx, trail.Meta{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "litewitness cosigns and our stopped witness fails", func() bool {
		st, _ := l.Trail().Witnessing()
		return st.Witnesses[0].Size == cp2.Size && st.Witnesses[1].Failures > 0
	})
	st, _ := l.Trail().Witnessing()
	if st.Witnessed != cp.Size || st.Checkpoint != cp2.Size || st.UnwitnessedSince.IsZero() {
		t.Fatalf("with a witness stopped: %+v", st)
	}
	rep, err = l.Trail().Verify(ctx, auditor.VerifyOptions{Witnesses: policy, RequireWitnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Damage) != 1 || rep.Damage[0].Kind != auditor.DamageUnwitnessed || rep.Witnessing[0].NewestWitnessed != cp.Size {
		t.Fatalf("verify --require-witnessed with a witness stopped: %+v", rep)
	}
	// The command says so too, once the node is closed.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"audit", "verify", "--quiet", "--witness-policy", policyFile}, args...)...)
		cmd.Env = append(os.Environ(), "JWTLEDGER_DATA_DIR="+dir, "JWTLEDGER_MASTER_KEY=", "JWTLEDGER_TEXT_LOG=off")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "chain node-acc: not witnessed: the newest checkpoint") {
		t.Fatalf("audit verify --witness-policy: %v\n%s", err, out)
	}
	if out, err := verify("--require-witnessed"); err == nil || !strings.Contains(out, "unwitnessed at seq") {
		t.Fatalf("audit verify --require-witnessed with a witness stopped: %v\n%s", err, out)
	}
	t.Logf("with one witness stopped: newest checkpoint %d unwitnessed, newest witnessed %d", cp2.Size, st.Witnessed)
}
