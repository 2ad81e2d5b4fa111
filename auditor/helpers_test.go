package auditor_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/auditor"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testWitness is a witness key made from a fixed seed, so that signatures
// (Ed25519 is deterministic) are the same in every run.
type testWitness struct {
	name string
	priv ed25519.PrivateKey
	vkey string
}

func newTestWitness(t testing.TB, name string) *testWitness {
	t.Helper()
	seed := sha256.Sum256([]byte("jwtledger auditor test witness " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	vkey, err := auditor.NewCosignatureVerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &testWitness{name: name, priv: priv, vkey: vkey}
}

func (w *testWitness) verifier(t testing.TB) *auditor.CosignatureVerifier {
	t.Helper()
	v, err := auditor.NewCosignatureVerifier(w.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// cosign returns the witness's cosignature line for the checkpoint text at
// the POSIX time ts, made from the spec's signed message.
func (w *testWitness) cosign(t testing.TB, text string, ts int64) string {
	t.Helper()
	msg, err := auditor.CosignatureMessage(text, ts)
	if err != nil {
		t.Fatal(err)
	}
	v := w.verifier(t)
	sig := binary.BigEndian.AppendUint32(nil, v.KeyHash())
	sig = binary.BigEndian.AppendUint64(sig, uint64(ts))
	sig = append(sig, ed25519.Sign(w.priv, msg)...)
	return "— " + w.name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

// testLog is a log note key made from a fixed seed, named like a jwtledger
// audit key.
type testLog struct {
	signer note.Signer
	vkey   string
}

func newTestLog(t testing.TB, name string) *testLog {
	t.Helper()
	seed := sha256.Sum256([]byte("jwtledger auditor test log " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(vkey, "+")
	skey := "PRIVATE+KEY+" + name + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed[:]...))
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{signer: s, vkey: vkey}
}

func (l *testLog) sign(t testing.TB, text string) []byte {
	t.Helper()
	n, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from what the code makes now:\n got: %q\nwant: %q", path, got, want)
	}
}
