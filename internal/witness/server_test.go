package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

const origin = "jwtledger/node-a"

func newSigner(t testing.TB, name string) *witness.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openWitness starts a witness on dir for the logs; it is closed at the
// end of the test.
func openWitness(t testing.TB, dir string, s *witness.Signer, now func() time.Time, logs ...*witnesstest.Log) (*witness.Witness, *httptest.Server) {
	t.Helper()
	cfg := witness.Config{Dir: dir, Signer: s, Now: now}
	for _, l := range logs {
		cfg.Logs = append(cfg.Logs, witness.Log{Origin: l.Origin, Verifiers: []note.Verifier{l.Verifier}})
	}
	w, err := witness.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(func() { srv.Close(); w.Close() })
	return w, srv
}

type answer struct {
	status int
	ctype  string
	body   string
}

func post(t testing.TB, srv *httptest.Server, body []byte) answer {
	t.Helper()
	resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func request(old int64, proof tlog.TreeProof, signed []byte) []byte {
	return (&witness.Request{OldSize: old, Proof: proof, Checkpoint: signed}).Marshal()
}

// checkCosigned checks a 200 answer: one cosignature of the witness's key
// over the checkpoint, verified with the auditor package.
func checkCosigned(t testing.TB, a answer, s *witness.Signer, signed []byte) {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("answer %d %q, want 200", a.status, a.body)
	}
	n, err := note.Open(append(bytes.Clone(signed), a.body...), note.VerifierList(s.Verifier()))
	if err != nil {
		t.Fatalf("cosignature %q does not verify: %v", a.body, err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != s.Verifier().Name() {
		t.Fatalf("verified signatures %v", n.Sigs)
	}
}

// TestAddCheckpointStatuses runs each failure the spec names against a
// witness that has cosigned the log at size 5, and checks the status (and
// for 409 the known-size body) the spec gives.
func TestAddCheckpointStatuses(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	stranger := witnesstest.NewLog(t, origin)
	unknown := witnesstest.NewLog(t, "jwtledger/elsewhere")
	base := &witnesstest.Tree{}
	base.AppendN("r", 5)
	fork := base.Fork()
	fork.Append([]byte("forked"))
	forkAt3 := &witnesstest.Tree{}
	forkAt3.AppendN("r", 3)
	forkAt3.AppendN("other", 5)
	grown := base.Fork()
	grown.AppendN("r", 3)
	same := &witnesstest.Tree{}
	same.AppendN("x", 5)
	notCheckpoint, _ := note.Sign(&note.Note{Text: origin + "\nfive\nroot\n"}, log.Signer)
	altered := bytes.Replace(log.Sign(t, grown), []byte("\n8\n"), []byte("\n9\n"), 1)
	big := request(5, grown.Prove(5), append(log.Sign(t, grown), bytes.Repeat([]byte("x"), witness.MaxRequestSize)...))
	manyHashes := make(tlog.TreeProof, 64)

	tests := []struct {
		name   string
		body   []byte
		status int
		known  string // the 409 body
	}{
		{name: "unknown origin", body: request(0, nil, unknown.Sign(t, grown)), status: 404},
		{name: "signed by an unknown key", body: request(5, grown.Prove(5), stranger.Sign(t, grown)), status: 403},
		{name: "signature does not verify", body: request(5, grown.Prove(5), altered), status: 403},
		{name: "no empty line", body: []byte("old 5\n" + string(log.Sign(t, grown))), status: 400},
		{name: "old size with leading zero", body: bytes.Replace(request(5, grown.Prove(5), log.Sign(t, grown)), []byte("old 5"), []byte("old 05"), 1), status: 400},
		{name: "old size line missing", body: bytes.TrimPrefix(request(5, grown.Prove(5), log.Sign(t, grown)), []byte("old 5\n")), status: 400},
		{name: "proof line not base64", body: bytes.Replace(request(5, grown.Prove(5), log.Sign(t, grown)), []byte("old 5\n"), []byte("old 5\n!!\n"), 1), status: 400},
		{name: "proof from size 0", body: request(0, grown.Prove(5), log.Sign(t, grown)), status: 400},
		{name: "64 proof lines", body: request(5, manyHashes, log.Sign(t, grown)), status: 400},
		{name: "old size larger than the checkpoint", body: request(9, nil, log.Sign(t, grown)), status: 400},
		{name: "signed text not a checkpoint", body: request(5, nil, notCheckpoint), status: 400},
		{name: "too large", body: big, status: 413},
		{name: "stale old size", body: request(3, grown.Prove(3), log.Sign(t, grown)), status: 409, known: "5\n"},
		{name: "old size zero", body: request(0, nil, log.Sign(t, grown)), status: 409, known: "5\n"},
		{name: "old size ahead", body: request(7, grown.Prove(7), log.Sign(t, grown)), status: 409, known: "5\n"},
		{name: "inconsistent proof", body: request(5, fork.Prove(5), log.Sign(t, forkAt3)), status: 422},
		{name: "proof of another tree", body: request(5, grown.Prove(5), log.Sign(t, fork)), status: 422},
		{name: "same size, other root", body: request(5, nil, log.Sign(t, same)), status: 409, known: "5\n"},
		{name: "same size with a proof", body: request(5, grown.Prove(5)[:1], log.Sign(t, base)), status: 422},
		{name: "same size, same root again", body: request(5, nil, log.Sign(t, base)), status: 200},
		{name: "consistent", body: request(5, grown.Prove(5), log.Sign(t, grown)), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSigner(t, "witness.example/w")
			_, srv := openWitness(t, t.TempDir(), s, nil, log)
			checkCosigned(t, post(t, srv, request(0, nil, log.Sign(t, base))), s, log.Sign(t, base))
			a := post(t, srv, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d (%q), want %d", a.status, a.body, tt.status)
			}
			if tt.status == 409 && (a.body != tt.known || a.ctype != "text/x.tlog.size") {
				t.Errorf("409 body %q type %q, want %q text/x.tlog.size", a.body, a.ctype, tt.known)
			}
			if tt.status == 200 {
				_, cp, _ := bytes.Cut(tt.body, []byte("\n\n"))
				checkCosigned(t, a, s, cp)
			}
		})
	}
	t.Run("GET add-checkpoint", func(t *testing.T) {
		_, srv := openWitness(t, t.TempDir(), newSigner(t, "w"), nil, log)
		resp, err := http.Get(srv.URL + "/add-checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("GET: %d, want 405", resp.StatusCode)
		}
	})
}

// TestRestartKeepsState: after a restart on the same directory the witness
// still refuses a smaller tree, a same-size fork and an inconsistent
// extension, and accepts the consistent one.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "witness.example/w")
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 5)
	small := tree.Fork()
	w, srv := openWitness(t, dir, s, nil, log)
	checkCosigned(t, post(t, srv, request(0, nil, log.Sign(t, tree))), s, log.Sign(t, tree))
	tree.AppendN("r", 3)
	checkCosigned(t, post(t, srv, request(5, tree.Prove(5), log.Sign(t, tree))), s, log.Sign(t, tree))
	srv.Close()
	w.Close()

	_, srv = openWitness(t, dir, s, nil, log)
	fork := small.Fork()
	fork.AppendN("evil", 3) // size 8, another root
	longFork := small.Fork()
	longFork.AppendN("evil", 6)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"smaller tree", request(0, nil, log.Sign(t, small)), 409},
		{"smaller tree from its size", request(5, nil, log.Sign(t, small)), 409},
		{"same size fork", request(8, nil, log.Sign(t, fork)), 409},
		{"larger fork", request(8, longFork.Prove(8), log.Sign(t, longFork)), 422},
	} {
		if a := post(t, srv, c.body); a.status != c.status || a.status == 409 && a.body != "8\n" {
			t.Errorf("%s after restart: %d %q, want %d", c.name, a.status, a.body, c.status)
		}
	}
	tree.AppendN("r", 4)
	checkCosigned(t, post(t, srv, request(8, tree.Prove(8), log.Sign(t, tree))), s, log.Sign(t, tree))
}

// TestConcurrentRequestsSerialised sends many checkpoints from the same old
// size at once: exactly one may be cosigned, the others get 409 with its
// size, and the stored state is the winner's (no rollback).
func TestConcurrentRequestsSerialised(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "witness.example/w")
	w, srv := openWitness(t, t.TempDir(), s, nil, log)
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 5)
	checkCosigned(t, post(t, srv, request(0, nil, log.Sign(t, tree))), s, log.Sign(t, tree))
	var bodies [][]byte
	for range 16 {
		tree.Append([]byte("more"))
		bodies = append(bodies, request(5, tree.Prove(5), log.Sign(t, tree)))
	}
	answers := make([]answer, len(bodies))
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() { answers[i] = post(t, srv, bodies[i]) })
	}
	wg.Wait()
	winner := -1
	for i, a := range answers {
		if a.status == 200 {
			if winner >= 0 {
				t.Fatalf("two checkpoints from the same old size were cosigned: sizes %d and %d", winner+6, i+6)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no checkpoint was cosigned")
	}
	want := int64(winner + 6)
	for i, a := range answers {
		if i != winner && (a.status != 409 || a.body != strconv.FormatInt(want, 10)+"\n") {
			t.Errorf("request %d: %d %q, want 409 %d", i, a.status, a.body, want)
		}
	}
	if st := w.Logs(); len(st) != 1 || st[0].Size != want {
		t.Errorf("state %+v, want size %d", st, want)
	}
}

func TestSecondWitnessOnDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	log := witnesstest.NewLog(t, origin)
	openWitness(t, dir, newSigner(t, "w"), nil, log)
	_, err := witness.New(witness.Config{Dir: dir, Signer: newSigner(t, "w"), Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{log.Verifier}}}})
	if err == nil || !strings.Contains(err.Error(), "another witness is running") {
		t.Fatalf("second witness on one directory: %v", err)
	}
}

func TestDamagedStateRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "w")
	w, srv := openWitness(t, dir, s, nil, log)
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 2)
	checkCosigned(t, post(t, srv, request(0, nil, log.Sign(t, tree))), s, log.Sign(t, tree))
	srv.Close()
	w.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.json"))
	if len(files) != 1 {
		t.Fatalf("state files %v", files)
	}
	if err := os.WriteFile(files[0], []byte(`{"origin":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := witness.New(witness.Config{Dir: dir, Signer: s, Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{log.Verifier}}}}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("New on a damaged state file: %v", err)
	}
}

// TestSaveFailureFailsClosed: when the state cannot be saved the witness
// answers 500 without a cosignature, and refuses the log until restarted.
func TestSaveFailureFailsClosed(t *testing.T) {
	dir := t.TempDir()
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "w")
	_, srv := openWitness(t, dir, s, nil, log)
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 2)
	checkCosigned(t, post(t, srv, request(0, nil, log.Sign(t, tree))), s, log.Sign(t, tree))
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.json"))
	// A directory where the state file was: the rename onto it fails.
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(files[0], 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files[0], "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tree.AppendN("r", 2)
	a := post(t, srv, request(2, tree.Prove(2), log.Sign(t, tree)))
	if a.status != 500 || strings.Contains(a.body, "—") {
		t.Fatalf("save failure: %d %q, want 500 without a cosignature", a.status, a.body)
	}
	if a := post(t, srv, request(2, tree.Prove(2), log.Sign(t, tree))); a.status != 500 {
		t.Fatalf("after a save failure: %d %q, want 500 until restart", a.status, a.body)
	}
}

// TestCosignatureTimeNeverGoesBack: with the clock stepped back, the next
// cosignature is dated like the previous one, not earlier.
func TestCosignatureTimeNeverGoesBack(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "w")
	var mu sync.Mutex
	now := time.Unix(1800000000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, srv := openWitness(t, t.TempDir(), s, clock, log)
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 2)
	first := post(t, srv, request(0, nil, log.Sign(t, tree)))
	mu.Lock()
	now = now.Add(-time.Hour)
	mu.Unlock()
	tree.AppendN("r", 2)
	second := post(t, srv, request(2, tree.Prove(2), log.Sign(t, tree)))
	for i, a := range []answer{first, second} {
		sigs, err := auditor.ParseSignatureLines([]byte(a.body))
		if err != nil {
			t.Fatal(err)
		}
		at, err := auditor.CosignatureTime(sigs[0])
		if err != nil || at.Unix() != 1800000000 {
			t.Errorf("cosignature %d dated %v, %v; want 1800000000", i, at.Unix(), err)
		}
	}
}

func TestIndex(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "witness.example/w")
	_, srv := openWitness(t, t.TempDir(), s, nil, log)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), s.Verifier().String()) || !strings.Contains(string(b), origin+" size 0") {
		t.Errorf("index %q", b)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	master := bytes.Repeat([]byte{7}, 32)
	s, err := witness.LoadKey(dir, "", master)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Verifier().Name(), "jwtledger-witness-") {
		t.Errorf("default name %q", s.Verifier().Name())
	}
	again, err := witness.LoadKey(dir, s.Verifier().Name(), master)
	if err != nil || again.Verifier().String() != s.Verifier().String() {
		t.Fatalf("reload: %v, %v", again, err)
	}
	if _, err := witness.LoadKey(dir, "another.example/w", master); err == nil || !strings.Contains(err.Error(), "was made for the name") {
		t.Errorf("renamed key: %v", err)
	}
	if _, err := witness.LoadKey(dir, "", bytes.Repeat([]byte{8}, 32)); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Errorf("wrong master key: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, witness.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	var kf struct {
		Name, VKey string
		Sealed     []byte
	}
	if err := json.Unmarshal(data, &kf); err != nil || kf.VKey != s.Verifier().String() || len(kf.Sealed) < 32+16 {
		t.Errorf("key file %s: %v", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, witness.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", fi.Mode(), err)
	}
}
