package auditor_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/auditor"
)

const testCheckpoint = "jwtledger/node-1\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

func TestNewCosignatureVerifier(t *testing.T) {
	w := newTestWitness(t, "witness.example/w1")
	pub := w.priv.Public().(ed25519.PublicKey)
	enc := func(b ...[]byte) string {
		var all []byte
		for _, x := range b {
			all = append(all, x...)
		}
		return base64.StdEncoding.EncodeToString(all)
	}
	hashOf := func(name string, alg byte) string {
		h := sha256.Sum256(append(append([]byte(name+"\n"), alg), pub...))
		return fmt.Sprintf("%08x", binary.BigEndian.Uint32(h[:]))
	}
	good := "witness.example/w1+" + hashOf("witness.example/w1", 4) + "+" + enc([]byte{4}, pub)
	tests := []struct {
		name, vkey string
		ok         bool
	}{
		{name: "valid", vkey: good, ok: true},
		{name: "as made by NewCosignatureVerifierKey", vkey: w.vkey, ok: true},
		{name: "key hash of another name", vkey: "witness.example/w2+" + hashOf("witness.example/w1", 4) + "+" + enc([]byte{4}, pub)},
		{name: "key hash with type 0x01", vkey: "witness.example/w1+" + hashOf("witness.example/w1", 1) + "+" + enc([]byte{4}, pub)},
		{name: "plain Ed25519 note key", vkey: "witness.example/w1+" + hashOf("witness.example/w1", 1) + "+" + enc([]byte{1}, pub)},
		{name: "upper-case hash", vkey: "witness.example/w1+" + strings.ToUpper(hashOf("witness.example/w1", 4)) + "+" + enc([]byte{4}, pub)},
		{name: "short hash", vkey: "witness.example/w1+" + hashOf("witness.example/w1", 4)[1:] + "+" + enc([]byte{4}, pub)},
		{name: "short key", vkey: "witness.example/w1+" + hashOf("witness.example/w1", 4) + "+" + enc([]byte{4}, pub[:31])},
		{name: "long key", vkey: "witness.example/w1+" + hashOf("witness.example/w1", 4) + "+" + enc([]byte{4}, pub, []byte{0})},
		{name: "no key", vkey: "witness.example/w1+" + hashOf("witness.example/w1", 4) + "+"},
		{name: "URL base64", vkey: strings.ReplaceAll(good, "/", "_")},
		{name: "empty name", vkey: "+" + hashOf("", 4) + "+" + enc([]byte{4}, pub)},
		{name: "space in name", vkey: "a b+" + hashOf("a b", 4) + "+" + enc([]byte{4}, pub)},
		{name: "two parts", vkey: "witness.example/w1+" + enc([]byte{4}, pub)},
		{name: "empty", vkey: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auditor.NewCosignatureVerifier(tt.vkey)
			if tt.ok != (err == nil) {
				t.Fatalf("NewCosignatureVerifier(%q): err %v, want ok=%v", tt.vkey, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, auditor.ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if v.String() != tt.vkey || v.Name() != "witness.example/w1" || !v.PublicKey().Equal(pub) {
				t.Errorf("got %s %q, want %s", v, v.Name(), tt.vkey)
			}
		})
	}
}

func TestCosignatureVerify(t *testing.T) {
	w := newTestWitness(t, "witness.example/w1")
	other := newTestWitness(t, "witness.example/w2")
	v := w.verifier(t)
	const ts = 1679315147
	sigOf := func(line string) []byte {
		raw, err := base64.StdEncoding.DecodeString(strings.Fields(line)[2])
		if err != nil {
			t.Fatal(err)
		}
		return raw[4:]
	}
	good := sigOf(w.cosign(t, testCheckpoint, ts))
	withTime := func(sig []byte, ts uint64) []byte {
		s := append([]byte(nil), sig...)
		binary.BigEndian.PutUint64(s, ts)
		return s
	}
	const ext = testCheckpoint + "extension line\n"
	tests := []struct {
		name string
		text string
		sig  []byte
		ok   bool
	}{
		{name: "valid", text: testCheckpoint, sig: good, ok: true},
		{name: "with extension lines", text: ext, sig: sigOf(w.cosign(t, ext, ts)), ok: true},
		{name: "extension lines added", text: ext, sig: good},
		{name: "other checkpoint", text: strings.Replace(testCheckpoint, "20852163", "20852164", 1), sig: good},
		{name: "timestamp changed", text: testCheckpoint, sig: withTime(good, ts+1)},
		{name: "other witness", text: testCheckpoint, sig: sigOf(other.cosign(t, testCheckpoint, ts))},
		{name: "truncated", text: testCheckpoint, sig: good[:len(good)-1]},
		{name: "no timestamp", text: testCheckpoint, sig: good[8:]},
		{name: "not a checkpoint", text: "hello\n", sig: good},
		{name: "timestamp after year 9999", text: testCheckpoint, sig: withTime(good, 253402300800)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v.Verify([]byte(tt.text), tt.sig); got != tt.ok {
				t.Errorf("Verify(%q) = %v, want %v", tt.text, got, tt.ok)
			}
		})
	}
}

// TestCosignatureNoteOpen checks that the verifier works through
// golang.org/x/mod/sumdb/note, as the spec expects clients to use it.
func TestCosignatureNoteOpen(t *testing.T) {
	log := newTestLog(t, "jwtledger-audit-0a0b0c0d")
	w := newTestWitness(t, "witness.example/w1")
	signed := append(log.sign(t, testCheckpoint), w.cosign(t, testCheckpoint, 1700000000)...)
	n, err := note.Open(signed, note.VerifierList(w.verifier(t)))
	if err != nil {
		t.Fatalf("note.Open with the witness key: %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != w.name || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("verified %v, unverified %v", n.Sigs, n.UnverifiedSigs)
	}
	when, err := auditor.CosignatureTime(n.Sigs[0])
	if err != nil || !when.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("CosignatureTime = %v, %v", when, err)
	}
	if _, err := auditor.CosignatureTime(n.UnverifiedSigs[0]); !errors.Is(err, auditor.ErrMalformed) {
		t.Errorf("CosignatureTime of an Ed25519 note signature: %v, want ErrMalformed", err)
	}
	tampered := []byte(strings.Replace(string(signed), "20852163", "20852164", 1))
	var ise *note.InvalidSignatureError
	if _, err := note.Open(tampered, note.VerifierList(w.verifier(t))); !errors.As(err, &ise) {
		t.Errorf("note.Open of an altered checkpoint: %v, want InvalidSignatureError", err)
	}
}

func TestCosignatureMessage(t *testing.T) {
	got, err := auditor.CosignatureMessage(testCheckpoint, 1679315147)
	if err != nil {
		t.Fatal(err)
	}
	// The example of the C2SP tlog-cosignature specification.
	want := "cosignature/v1\ntime 1679315147\njwtledger/node-1\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []struct {
		text string
		ts   int64
	}{{"not a checkpoint\n", 1}, {testCheckpoint, -1}} {
		if _, err := auditor.CosignatureMessage(bad.text, bad.ts); !errors.Is(err, auditor.ErrMalformed) {
			t.Errorf("CosignatureMessage(%q, %d): %v, want ErrMalformed", bad.text, bad.ts, err)
		}
	}
}

// TestGoldenCosignatures pins the bytes: fixed keys and times give fixed
// signatures, so a change in the signed message or the encodings shows.
// The same files are checked with torchwood's verifier in
// test/witness/litewitness.
func TestGoldenCosignatures(t *testing.T) {
	log := newTestLog(t, "jwtledger-audit-5eed0001")
	alpha := newTestWitness(t, "witness.example/alpha")
	beta := newTestWitness(t, "witness.example/beta")
	text := "jwtledger/node-1\n7\n" + base64.StdEncoding.EncodeToString(sha256Of("root")) + "\n"
	signed := string(log.sign(t, text)) + alpha.cosign(t, text, 1700000000) + beta.cosign(t, text, 1700000042)
	policy := "log " + log.vkey + "\nwitness alpha " + alpha.vkey + "\nwitness beta " + beta.vkey + "\nquorum all\n"
	golden(t, "golden/checkpoint.txt", []byte(signed))
	golden(t, "golden/policy.txt", []byte(policy))
	msg, err := auditor.CosignatureMessage(text, 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/alpha-message.txt", msg)

	p, err := auditor.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Verify([]byte(signed))
	if err != nil {
		t.Fatalf("golden checkpoint under the golden policy: %v", err)
	}
	if got := rep.Cosigned(); len(got) != 2 || !rep.Cosignatures[1].Time.Equal(time.Unix(1700000042, 0)) {
		t.Errorf("cosigned %v at %v", got, rep.Cosignatures)
	}
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
