package auditor_test

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/auditor"
)

// FuzzParsePolicy: no panic; an accepted policy prints as text that parses
// to the same policy (exact round trip of the canonical form); every error
// wraps ErrMalformed.
func FuzzParsePolicy(f *testing.F) {
	if golden, err := os.ReadFile("testdata/golden/policy.txt"); err == nil {
		f.Add(golden)
	}
	a, b := newTestWitness(f, "a.example/w"), newTestWitness(f, "b.example/w")
	f.Add([]byte("witness A " + a.vkey + " https://a.example/\nwitness B " + b.vkey + "\ngroup g any A B\nquorum g\n"))
	f.Add([]byte("# x\nquorum none\n"))
	f.Add([]byte("witness A " + a.vkey + "\nquorum 1 # one\r\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := auditor.ParsePolicy(text)
		if err != nil {
			if !errors.Is(err, auditor.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		s := p.String()
		p2, err := auditor.ParsePolicy([]byte(s))
		if err != nil {
			t.Fatalf("the canonical form %q of %q does not parse: %v", s, text, err)
		}
		if p2.String() != s {
			t.Fatalf("round trip changed the policy: %q -> %q", s, p2.String())
		}
		p.Satisfied(nil)
	})
}

// FuzzCosignatureVerifier: no panic; an accepted witness key prints back
// exactly as given; a key made from an accepted key's name and public key
// is the same key.
func FuzzCosignatureVerifier(f *testing.F) {
	f.Add(newTestWitness(f, "witness.example/w1").vkey)
	f.Add("witness.example/w1+00000000+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("a+b+c")
	f.Fuzz(func(t *testing.T, vkey string) {
		v, err := auditor.NewCosignatureVerifier(vkey)
		if err != nil {
			if !errors.Is(err, auditor.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if v.String() != vkey {
			t.Fatalf("accepted %q but prints %q", vkey, v.String())
		}
		again, err := auditor.NewCosignatureVerifierKey(v.Name(), v.PublicKey())
		if err != nil || again != vkey {
			t.Fatalf("NewCosignatureVerifierKey = %q, %v; want %q", again, err, vkey)
		}
		v.Verify([]byte(testCheckpoint), make([]byte, 72))
	})
}

// FuzzSignatureLines checks the signed-note parser against
// golang.org/x/mod/sumdb/note.Open: both accept the same notes, with the
// same text and the same signatures; signature lines print back as given;
// the cosignature timestamp reader never panics.
func FuzzSignatureLines(f *testing.F) {
	if golden, err := os.ReadFile("testdata/golden/checkpoint.txt"); err == nil {
		f.Add(golden)
	}
	w := newTestWitness(f, "witness.example/w1")
	f.Add([]byte(testCheckpoint + "\n" + w.cosign(f, testCheckpoint, 1) + w.cosign(f, testCheckpoint, 1)))
	f.Add([]byte("a\n\n\n— k AAAAAAA=\n"))
	f.Add([]byte("— x AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > auditor.MaxCheckpointSize {
			return // SplitNote has a size limit, note.Open none
		}
		text, sigs, err := auditor.SplitNote(msg)
		_, xerr := note.Open(msg, note.VerifierList())
		var unverified *note.UnverifiedNoteError
		if (err == nil) != errors.As(xerr, &unverified) {
			t.Fatalf("SplitNote(%q): %v, but note.Open: %v", msg, err, xerr)
		}
		if err != nil {
			if !errors.Is(err, auditor.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if text != unverified.Note.Text || !reflect.DeepEqual(sigs, unverified.Note.UnverifiedSigs) {
			t.Fatalf("SplitNote(%q) = %q %v, note.Open: %q %v", msg, text, sigs, unverified.Note.Text, unverified.Note.UnverifiedSigs)
		}
		var lines []byte
		for _, s := range sigs {
			lines = append(lines, auditor.FormatSignature(s)...)
			auditor.CosignatureTime(s)
		}
		again, err := auditor.ParseSignatureLines(lines)
		if err != nil || !reflect.DeepEqual(again, sigs) {
			t.Fatalf("signature lines %q do not parse back: %v %v", lines, again, err)
		}
	})
}

// FuzzParseCheckpoint: no panic; an accepted checkpoint prints back exactly
// as given.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add(testCheckpoint)
	f.Add(testCheckpoint + "ext\n")
	f.Add("o\n0\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := auditor.ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, auditor.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if c.String() != text {
			t.Fatalf("accepted %q but prints %q", text, c.String())
		}
	})
}

// FuzzSplitNotes checks that note splitting (of checkpoints.log) never
// panics and never invents signatures, and that checkpoint bodies made by
// Checkpoint.String round-trip.
func FuzzSplitNotes(f *testing.F) {
	f.Add("jwtledger/node-1\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", []byte("a\n1\nb\n\n— k sig\n\nc\n"))
	f.Add("x\n-1\n\n", []byte("\n\n\n— \n"))
	f.Fuzz(func(t *testing.T, text string, file []byte) {
		if c, err := auditor.ParseCheckpoint(text); err == nil {
			again := c.String()
			c2, err := auditor.ParseCheckpoint(again)
			if err != nil || c2 != c {
				t.Fatalf("round trip of %q: %q %v", text, again, err)
			}
		}
		for _, n := range auditor.SplitNotes(file) {
			if !bytes.Contains(n, []byte("\n— ")) && !bytes.HasPrefix(n, []byte("— ")) {
				t.Fatalf("note without a signature line: %q", n)
			}
		}
	})
}
