// Package witness_test runs jwtledger's witness client against an
// independent witness, torchwood's litewitness (built by .ci/run from the
// pinned module in ./litewitness), and tests a split view against both
// witnesses.
package witness_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/poll"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

// A litewitness is a running torchwood litewitness.
type litewitness struct {
	URL      string
	Verifier *auditor.CosignatureVerifier
	// LoggedKey is the verifier key litewitness logged at start: its own
	// encoding of its key, to compare with ours.
	LoggedKey string
	db, ctl   string
}

// tools returns the litewitness and witnessctl binaries that .ci/run
// builds (JWTLEDGER_LITEWITNESS, JWTLEDGER_WITNESSCTL) and the OpenSSH
// tools that hold its key. Without them the test fails in CI and is
// skipped elsewhere.
func tools(t *testing.T) (lw, ctl string) {
	t.Helper()
	lw, ctl = os.Getenv("JWTLEDGER_LITEWITNESS"), os.Getenv("JWTLEDGER_WITNESSCTL")
	missing := ""
	switch {
	case lw == "" || ctl == "":
		missing = "JWTLEDGER_LITEWITNESS and JWTLEDGER_WITNESSCTL are not set (.ci/run builds them from test/witness/litewitness)"
	default:
		for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = tool + " is not installed (Debian openssh-client)"
			}
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	return lw, ctl
}

// startLitewitness starts an ssh-agent holding a new Ed25519 key and a
// litewitness named name that signs with it, on a free loopback port; both
// are stopped at the end of the test.
func startLitewitness(t *testing.T, name string) *litewitness {
	t.Helper()
	lwBin, ctl := tools(t)
	// A short directory: a unix socket path has at most 108 bytes.
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	key := filepath.Join(dir, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litewitness", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, fingerprint := readSSHPublicKey(t, key+".pub")

	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	agent.Stdout, agent.Stderr = io.Discard, io.Discard
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(t, "ssh-agent socket", func() bool { _, err := os.Stat(sock); return err == nil })
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}

	addr := freePort(t)
	db := filepath.Join(dir, "litewitness.db")
	lw := exec.Command(lwBin, "-db", db, "-name", name, "-key", fingerprint, "-ssh-agent", sock, "-listen", addr)
	stderr, err := lw.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.Start(); err != nil {
		t.Fatal(err)
	}
	logged := make(chan string, 1)
	var lines bytes.Buffer
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines.WriteString(sc.Text() + "\n")
			if m := regexp.MustCompile(`msg="verifier key" vkey=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				logged <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		lw.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			lw.Process.Kill()
		}
		lw.Wait()
		if t.Failed() {
			t.Logf("litewitness log:\n%s", lines.String())
		}
	})
	var loggedKey string
	select {
	case loggedKey = <-logged:
	case <-exited:
		t.Fatal("litewitness exited at start")
	case <-time.After(30 * time.Second):
		t.Fatal("litewitness logged no verifier key in 30s")
	}
	waitFor(t, "litewitness to listen on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	vkey, err := auditor.NewCosignatureVerifierKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auditor.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &litewitness{URL: "http://" + addr, Verifier: v, LoggedKey: loggedKey, db: db, ctl: ctl}
}

// addLog registers a log the way litewitness expects it: witnessctl
// add-log, then add-key with the log's note verifier key.
func (lw *litewitness) addLog(t *testing.T, origin, vkey string) {
	t.Helper()
	for _, args := range [][]string{
		{"add-log", "-db", lw.db, "-origin", origin},
		{"add-key", "-db", lw.db, "-origin", origin, "-key", vkey},
	} {
		if out, err := exec.Command(lw.ctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %v: %v\n%s", args, err, out)
		}
	}
}

// readSSHPublicKey returns the Ed25519 key of an OpenSSH public key file
// and its SHA256 fingerprint as ssh-keygen -l prints it.
func readSSHPublicKey(t *testing.T, path string) (ed25519.PublicKey, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	wire, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || f[0] != "ssh-ed25519" {
		t.Fatalf("public key %q: %v", data, err)
	}
	// The wire form is two length-prefixed strings: the type and the key.
	var parts [][]byte
	for rest := wire; len(rest) >= 4; {
		n := binary.BigEndian.Uint32(rest)
		if int(n) > len(rest)-4 {
			t.Fatalf("public key %q: bad wire form", data)
		}
		parts, rest = append(parts, rest[4:4+n]), rest[4+n:]
	}
	if len(parts) != 2 || len(parts[1]) != ed25519.PublicKeySize {
		t.Fatalf("public key %q: bad wire form", data)
	}
	sum := sha256.Sum256(wire)
	return ed25519.PublicKey(parts[1]), "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls cond for up to 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if _, ok := poll.Within(30*time.Second, cond); !ok {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestLitewitnessCosigns sends checkpoints signed with a jwtledger-style
// audit key (named unlike the origin) and real consistency proofs to
// litewitness with our client, and verifies its cosignatures with the
// auditor package.
func TestLitewitnessCosigns(t *testing.T) {
	lw := startLitewitness(t, "witness.test/litewitness")
	if lw.LoggedKey != lw.Verifier.String() {
		t.Fatalf("litewitness's verifier key is %s, ours for its key is %s", lw.LoggedKey, lw.Verifier)
	}
	log := witnesstest.NewLog(t, "jwtledger/node-lw")
	lw.addLog(t, log.Origin, log.VerifierKey)
	c := &witness.Client{URL: lw.URL, Verifier: lw.Verifier}
	policy, err := auditor.NewPolicy([]auditor.Witness{{Name: "litewitness", Verifier: lw.Verifier}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tree := &witnesstest.Tree{}
	for i, grow := range []int{1, 6, 1, 57, 200} {
		tree.AppendN("record", grow)
		signed := log.Sign(t, tree)
		old := tree.Size() - int64(grow)
		lines, err := c.AddCheckpoint(t.Context(), old, tree.Prove(old), signed)
		if err != nil {
			t.Fatalf("checkpoint %d (size %d from %d): %v", i, tree.Size(), old, err)
		}
		rep, err := policy.Verify(append(signed, lines...))
		if err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if age := time.Since(rep.Cosignatures[0].Time); age < -2*time.Second || age > time.Minute {
			t.Errorf("cosignature dated %v", rep.Cosignatures[0].Time)
		}
	}

	// A client that lost track of the witness's size learns it from the
	// 409 answer and sends a proof from it.
	before := tree.Size()
	tree.AppendN("record", 10)
	var asked []int64
	lines, known, err := c.Cosign(t.Context(), 0, func(ctx context.Context, old int64) (tlog.TreeProof, error) {
		asked = append(asked, old)
		return tree.Prove(old), nil
	}, log.Sign(t, tree))
	if err != nil || known != tree.Size() || len(asked) != 1 || asked[0] != before {
		t.Fatalf("Cosign from an unknown size: %q %d %v, proofs from %v", lines, known, err, asked)
	}

	// Refusals: a stale old size (409 with the known size), a checkpoint of
	// an unregistered origin, and one signed by another key.
	var ce *witness.ConflictError
	if _, err := c.AddCheckpoint(t.Context(), 5, tree.Prove(5), log.Sign(t, tree)); !errors.As(err, &ce) || ce.KnownSize != tree.Size() {
		t.Errorf("stale old size: %v, want 409 with %d", err, tree.Size())
	}
	stranger := witnesstest.NewLog(t, "jwtledger/node-unknown")
	if _, err := c.AddCheckpoint(t.Context(), 0, nil, stranger.Sign(t, tree)); !errors.Is(err, witness.ErrLogSignature) && !errors.Is(err, witness.ErrUnknownLog) {
		t.Errorf("unknown origin: %v, want 403 (litewitness v0.6.1) or 404 (the spec now)", err)
	}
	impostor := witnesstest.NewLog(t, log.Origin)
	if _, err := c.AddCheckpoint(t.Context(), tree.Size(), nil, impostor.Sign(t, tree)); !errors.Is(err, witness.ErrLogSignature) {
		t.Errorf("checkpoint signed by another key: %v, want 403", err)
	}
}
