package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

// startWitness runs `jwtledger witness serve` on a free port and returns
// its URL, its verifier key and a function that stops it as SIGTERM would
// and returns the exit code.
func startWitness(t *testing.T, env map[string]string, args ...string) (url, vkey string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"witness", "serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...),
			strings.NewReader(""), pw, io.Discard, func(k string) string { return env[k] })
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for (url == "" || vkey == "") && sc.Scan() {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`verifier key: (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			vkey = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" || vkey == "" {
		cancel()
		t.Fatalf("witness serve printed no address or key (exit %d)", <-done)
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return url, vkey, stop
}

// TestWitnessServe drives `jwtledger witness serve` with the witness
// client: a cosignature verified with the key `witness key` prints, a
// graceful stop with exit 0, and after a restart the state is kept.
func TestWitnessServe(t *testing.T) {
	env := map[string]string{"JWTLEDGER_DATA_DIR": t.TempDir()}
	var keyOut strings.Builder
	if code := run(t.Context(), []string{"witness", "key", "--name", "witness.test/w"}, nil, &keyOut, io.Discard, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("witness key: exit %d", code)
	}
	log := witnesstest.NewLog(t, "jwtledger/node-1")
	env["JWTLEDGER_LOG"] = log.Origin + "=" + log.VerifierKey
	url, vkey, stop := startWitness(t, env)
	if vkey != strings.TrimSpace(keyOut.String()) {
		t.Fatalf("serve uses key %s, witness key printed %s", vkey, keyOut.String())
	}
	v, err := auditor.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	c := &witness.Client{URL: url, Verifier: v}
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 6)
	small := tree.Fork()
	tree.AppendN("r", 4)
	lines, err := c.AddCheckpoint(t.Context(), 0, nil, log.Sign(t, tree))
	if err != nil {
		t.Fatal(err)
	}
	p, err := auditor.NewPolicy([]auditor.Witness{{Name: "w", Verifier: v}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(append(log.Sign(t, tree), lines...)); err != nil {
		t.Fatalf("policy check of the cosigned checkpoint: %v", err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("witness serve exited %d on SIGTERM", code)
	}

	url, _, _ = startWitness(t, env)
	c.URL = url
	var ce *witness.ConflictError
	if _, err := c.AddCheckpoint(t.Context(), 0, nil, log.Sign(t, small)); !errors.As(err, &ce) || ce.KnownSize != 10 {
		t.Fatalf("after restart: %v, want 409 at 10", err)
	}
}
