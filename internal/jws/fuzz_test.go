package jws_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/jws"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/token"
)

type oneKey struct{ k *keys.Key }

func (o oneKey) Candidates(string) []*keys.Key { return []*keys.Key{o.k} }

// FuzzVerify feeds arbitrary text to the verifier: it must never panic,
// always give exactly one known outcome, and a valid verdict must come with
// claims that encoding/json reads as an object.
func FuzzVerify(f *testing.F) {
	k, err := keys.NewHMAC([]byte("0123456789abcdef0123456789abcdef"), "")
	if err != nil {
		f.Fatal(err)
	}
	good, err := jws.Sign(k, keys.HS256, "JWT", &token.Claims{Subject: "a", Expiry: time.Unix(4102444800, 0)}, []byte(`{"x":[1,{"y":null}]}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good, "", ".", "..", "a.b.c", good + ".", strings.Replace(good, ".", "..", 1),
		"eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiYjY0Il19.e30.",
		"eyJhbGciOiJIUzI1NiJ9.bnVsbA.", "eyJhbGciOiJIUzI1NiJ9.W10.x", good[:len(good)-1],
	} {
		f.Add(s)
	}
	opts := &jws.Options{Now: time.Unix(1700000000, 0), Leeway: 30 * time.Second}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, unverified, err := jws.Verify(raw, oneKey{k}, opts)
		o := token.OutcomeOf(err)
		if unverified != nil && (err == nil || tok.Key != nil) {
			t.Fatalf("unverified claims beside a matched signature (%v)", err)
		}
		if !slices.Contains(token.Outcomes, o) {
			t.Fatalf("outcome %q (%v) is not a known outcome", o, err)
		}
		if err == nil {
			var m map[string]any
			if jerr := json.Unmarshal(tok.Claims.Raw, &m); jerr != nil {
				t.Fatalf("valid token with claims encoding/json refuses: %v", jerr)
			}
		}
		if err != nil && len(raw) > 16 && strings.Contains(err.Error(), raw) {
			t.Fatalf("reason contains the token")
		}
		// Decode must agree with Verify on malformed structure.
		if _, derr := jws.Decode(raw); derr == nil && o == token.Malformed && !strings.Contains(err.Error(), "signature") {
			t.Fatalf("Decode accepts what Verify calls malformed: %v", err)
		}
	})
}

// FuzzSignVerify signs arbitrary claims and custom JSON and checks that the
// result always verifies and round-trips the values.
func FuzzSignVerify(f *testing.F) {
	k, err := keys.NewHMAC([]byte("0123456789abcdef0123456789abcdef"), "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("alice", "api", "id-1", `{"role":"admin"}`)
	f.Add("\x00\n\"\\", "\u2028", "", `{"a":{"b":[1,2.5e3,"\u00e9"]}}`)
	f.Fuzz(func(t *testing.T, sub, aud, jti, custom string) {
		c := &token.Claims{Subject: sub, Audience: []string{aud}, ID: jti, Expiry: time.Unix(4102444800, 0)}
		if jws.CheckStrings(c) != nil {
			return
		}
		extra, err := jws.CompactCustom([]byte(custom))
		if err != nil {
			return
		}
		raw, err := jws.Sign(k, keys.HS256, "JWT", c, extra)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := jws.Verify(raw, oneKey{k}, &jws.Options{Now: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatalf("own token refused: %v (custom %q)", err, extra)
		}
		if tok.Claims.Subject != sub || tok.Claims.ID != jti || len(tok.Claims.Audience) != 1 || tok.Claims.Audience[0] != aud {
			t.Fatalf("round trip changed claims: %+v", tok.Claims)
		}
	})
}
