package witness_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

// TestKillNineLosesNoCosignature kills `jwtledger witness serve` with
// SIGKILL while a log sends it checkpoints, restarts it, and checks that it
// remembers at least the largest size it acknowledged: a witness that
// forgot a cosignature could later cosign a fork of that tree.
func TestKillNineLosesNoCosignature(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; this test builds the jwtledger binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "jwtledger")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/jwtledger/jwtledger/cmd/jwtledger").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	log := witnesstest.NewLog(t, "jwtledger/node-kill")
	start := func() (*exec.Cmd, *witness.Client) {
		cmd := exec.Command(bin, "witness", "serve", "--addr", "127.0.0.1:0", "--log-level", "error", "--log", log.Origin+"="+log.VerifierKey)
		cmd.Env = append(os.Environ(), "JWTLEDGER_DATA_DIR="+filepath.Join(dir, "data"), "JWTLEDGER_MASTER_KEY=")
		out, _ := cmd.StdoutPipe()
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
		v, err := auditor.NewCosignatureVerifier(vkey)
		if err != nil {
			t.Fatalf("witness serve printed no key (%v)", err)
		}
		return cmd, &witness.Client{URL: url, Verifier: v, Attempts: 1, Timeout: 5 * time.Second}
	}
	cmd, c := start()
	tree := &witnesstest.Tree{}
	acked := make(chan int64, 1000)
	go func() {
		defer close(acked)
		var known int64
		for i := 0; i < 2000; i++ {
			tree.AppendN("r", 1+i%3)
			if _, _, err := c.Cosign(t.Context(), known, proveFrom(tree), log.Sign(t, tree)); err != nil {
				return // the witness was killed
			}
			known = tree.Size()
			acked <- known
		}
	}()
	var last int64
	for n := range acked {
		last = n
		if n >= 200 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for n := range acked {
		last = max(last, n)
	}
	cmd.Wait()
	if last < 200 {
		t.Fatalf("only %d acknowledged before the kill", last)
	}

	_, c = start()
	var ce *witness.ConflictError
	_, err = c.AddCheckpoint(t.Context(), 0, nil, log.Sign(t, tree))
	if !errors.As(err, &ce) {
		t.Fatalf("after restart: %v, want 409 with the known size", err)
	}
	if ce.KnownSize < last {
		t.Fatalf("the witness acknowledged size %d but remembers %d after kill -9", last, ce.KnownSize)
	}
	t.Logf("acknowledged up to %d before SIGKILL; the witness remembers %d", last, ce.KnownSize)
}
