// Package litewitness_test checks jwtledger's witness from the other side,
// with torchwood's cosignature code, and pins the torchwood litewitness
// that the main module's interoperability tests run (see the tool lines of
// go.mod; .ci/run builds it). It is a module of its own so that torchwood
// and its dependencies stay out of jwtledger's go.mod.
package litewitness_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// torchwoodVerifier returns torchwood's cosignature/v1 verifier for the
// public key inside a witness verifier key. torchwood v0.6.1 builds
// verifiers only from a signer, so the signer here has the public key and
// refuses to sign. The verifier computes the key hash and the vkey
// encoding itself, so comparing its String with vkey checks ours.
func torchwoodVerifier(t *testing.T, vkey string) *torchwood.CosignatureVerifier {
	t.Helper()
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		t.Fatalf("vkey %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 4 {
		t.Fatalf("vkey %q: %v", vkey, err)
	}
	s, err := torchwood.NewCosignatureSigner(parts[0], publicOnly(raw[1:]))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier()
	if v.String() != vkey {
		t.Fatalf("torchwood encodes the key as %s, jwtledger as %s", v.String(), vkey)
	}
	return v
}

type publicOnly ed25519.PublicKey

func (p publicOnly) Public() crypto.PublicKey { return ed25519.PublicKey(p) }
func (p publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("verification only")
}

// TestGoldenVectorsWithTorchwood verifies the auditor package's golden
// cosignatures (made by jwtledger's code from fixed keys) with torchwood.
func TestGoldenVectorsWithTorchwood(t *testing.T) {
	policy, err := os.ReadFile("../../../auditor/testdata/golden/policy.txt")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile("../../../auditor/testdata/golden/checkpoint.txt")
	if err != nil {
		t.Fatal(err)
	}
	var vs []note.Verifier
	for _, line := range strings.Split(string(policy), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "witness" {
			vs = append(vs, torchwoodVerifier(t, f[2]))
		}
	}
	if len(vs) != 2 {
		t.Fatalf("golden policy has %d witnesses", len(vs))
	}
	n, err := note.Open(signed, note.VerifierList(vs...))
	if err != nil {
		t.Fatalf("torchwood rejects jwtledger's cosignatures: %v", err)
	}
	if len(n.Sigs) != 2 {
		t.Fatalf("verified %v", n.Sigs)
	}
	for i, want := range []int64{1700000000, 1700000042} {
		if ts, err := torchwood.CosignatureTimestamp(n.Sigs[i]); err != nil || ts != want {
			t.Errorf("cosignature %d: timestamp %d, %v; want %d", i, ts, err, want)
		}
	}
	if _, err := torchwood.ParseCheckpoint(n.Text); err != nil {
		t.Errorf("torchwood does not parse the checkpoint: %v", err)
	}
}

// TestWitnessServeWithTorchwood runs `jwtledger witness serve` and checks
// its answers with torchwood's cosignature verifier: cosignatures of
// consistent checkpoints verify and carry the time they were made; a
// stale old size gets 409 with the known size; a fork gets 422; after a
// restart a smaller or forked checkpoint is still refused.
func TestWitnessServeWithTorchwood(t *testing.T) {
	bin := buildJwtledger(t)
	data := t.TempDir()
	vkey := strings.TrimSpace(runJwtledger(t, bin, data, "witness", "key", "--name", "witness.test/jwtledger"))
	v := torchwoodVerifier(t, vkey)

	skey, logVKey, err := note.GenerateKey(rand.Reader, "jwtledger-audit-0badc0de")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "jwtledger/node-b"
	url, stop := startWitnessServe(t, bin, data, origin+"="+logVKey)

	tree := &memTree{}
	tree.appendN("a", 5)
	sign := func(tr *memTree) []byte {
		n, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, tr.size, tr.root())}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cosigned := func(tr *memTree, old int64) {
		t.Helper()
		cp := sign(tr)
		before := time.Now().Unix()
		status, body := addCheckpoint(t, url, old, tr.prove(old), cp)
		if status != 200 {
			t.Fatalf("size %d from %d: %d %q", tr.size, old, status, body)
		}
		n, err := note.Open(append(cp, body...), note.VerifierList(v))
		if err != nil {
			t.Fatalf("torchwood rejects the cosignature %q: %v", body, err)
		}
		ts, err := torchwood.CosignatureTimestamp(n.Sigs[0])
		if err != nil || ts < before || ts > time.Now().Unix() {
			t.Errorf("cosignature timestamp %d, %v; want between %d and now", ts, err, before)
		}
	}
	cosigned(tree, 0)
	prefix := tree.fork()
	tree.appendN("a", 4)
	cosigned(tree, 5)

	fork := prefix.fork()
	fork.appendN("b", 6) // size 11, forked after the 5th record
	if status, body := addCheckpoint(t, url, 5, fork.prove(5), sign(fork)); status != 409 || body != "9\n" {
		t.Errorf("stale old size: %d %q, want 409 9", status, body)
	}
	if status, body := addCheckpoint(t, url, 9, fork.prove(9), sign(fork)); status != 422 {
		t.Errorf("fork: %d %q, want 422", status, body)
	}

	if code := stop(); code != nil {
		t.Fatalf("witness serve did not exit 0 on SIGTERM: %v", code)
	}
	url, _ = startWitnessServe(t, bin, data, origin+"="+logVKey)
	if status, body := addCheckpoint(t, url, 0, nil, sign(prefix)); status != 409 || body != "9\n" {
		t.Errorf("smaller tree after restart: %d %q, want 409 9", status, body)
	}
	if status, body := addCheckpoint(t, url, 9, fork.prove(9), sign(fork)); status != 422 {
		t.Errorf("fork after restart: %d %q, want 422", status, body)
	}
	tree.appendN("a", 3)
	cosigned(tree, 9)
}

func buildJwtledger(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jwtledger")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/jwtledger")
	cmd.Dir = "../../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build jwtledger: %v\n%s", err, out)
	}
	return bin
}

func runJwtledger(t *testing.T, bin, data string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "JWTLEDGER_DATA_DIR="+data, "JWTLEDGER_MASTER_KEY=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jwtledger %v: %v\n%s", args, err, stderr.Bytes())
	}
	return string(out)
}

// startWitnessServe starts `jwtledger witness serve` on a free port and
// returns its URL and a function that stops it with SIGTERM and waits.
func startWitnessServe(t *testing.T, bin, data, log string) (string, func() error) {
	t.Helper()
	cmd := exec.Command(bin, "witness", "serve", "--addr", "127.0.0.1:0", "--log", log, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "JWTLEDGER_DATA_DIR="+data, "JWTLEDGER_MASTER_KEY=")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("witness serve exited: %v", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("witness serve printed no address in 30s")
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			return errors.New("no exit 20s after SIGINT")
		}
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

// addCheckpoint posts a tlog-witness add-checkpoint request.
func addCheckpoint(t *testing.T, url string, old int64, proof tlog.TreeProof, signed []byte) (int, string) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("old " + strconv.FormatInt(old, 10) + "\n")
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(signed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/add-checkpoint", &b)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 409 && resp.Header.Get("Content-Type") != "text/x.tlog.size" {
		t.Errorf("409 with Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(body)
}

// memTree is an RFC 6962 tree in memory, built with x/mod's tlog.
type memTree struct {
	hashes []tlog.Hash
	size   int64
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memTree) appendN(prefix string, n int) {
	for range n {
		hs, err := tlog.StoredHashes(m.size, fmt.Appendf(nil, "%s-%d", prefix, m.size), m)
		if err != nil {
			panic(err)
		}
		m.hashes = append(m.hashes, hs...)
		m.size++
	}
}

func (m *memTree) root() tlog.Hash {
	h, err := tlog.TreeHash(m.size, m)
	if err != nil {
		panic(err)
	}
	return h
}

func (m *memTree) prove(old int64) tlog.TreeProof {
	if old == 0 || old == m.size {
		return nil
	}
	p, err := tlog.ProveTree(m.size, old, m)
	if err != nil {
		panic(err)
	}
	return p
}

func (m *memTree) fork() *memTree {
	return &memTree{hashes: append([]tlog.Hash(nil), m.hashes...), size: m.size}
}
