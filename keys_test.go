package jwtledger_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

var allAlgs = []keys.Alg{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// TestAlgorithms issues and verifies with every algorithm, through an
// external key and through a managed key, and checks that no other
// algorithm is accepted with the same key.
func TestAlgorithms(t *testing.T) {
	l := openLedger(t)
	ctx := context.Background()
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k, err := keys.Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice", Key: k})
			if err != nil {
				t.Fatal(err)
			}
			if iss.Alg != alg || iss.KID != k.KID {
				t.Fatalf("issued alg %s kid %s, want %s %s", iss.Alg, iss.KID, alg, k.KID)
			}
			tok, err := l.Verify(ctx, iss.Token, jwtledger.WithKeys(k))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tok.Claims.Subject != "alice" || tok.Header.Alg != string(alg) || tok.Header.Typ != "JWT" {
				t.Fatalf("got header %s claims %s", tok.Header.Raw, tok.Claims.Raw)
			}
			// The same key must refuse a token relabelled with any other algorithm.
			for _, other := range allAlgs {
				if other == alg {
					continue
				}
				parts := strings.SplitN(iss.Token, ".", 2)
				hdr := b64(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, other, k.KID))
				_, err := l.Verify(ctx, hdr+"."+parts[1], jwtledger.WithKeys(k))
				if got := token.OutcomeOf(err); got != token.UnsupportedAlg {
					t.Errorf("relabelled %s as %s: outcome %q, want unsupported_alg", alg, other, got)
				}
			}
		})
	}
	t.Run("managed", func(t *testing.T) {
		for _, alg := range []keys.Alg{"EdDSA", "RS256", "HS512", "ES384"} {
			info, err := l.RotateKey(ctx, alg, jwtledger.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			if iss.KID != info.KID || iss.Alg != alg {
				t.Fatalf("issued with %s/%s, want the new active key %s/%s", iss.KID, iss.Alg, info.KID, alg)
			}
			if _, err := l.Verify(ctx, iss.Token); err != nil {
				t.Fatalf("verify %s with managed keys: %v", alg, err)
			}
		}
	})
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestKeyFormats(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte { d, _ := x509.MarshalPKCS8PrivateKey(k); return d }
	pkixDER := func(k any) []byte { d, _ := x509.MarshalPKIXPublicKey(k); return d }
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: testNow, NotAfter: testNow.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	certDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	tmpl2 := *tmpl
	tmpl2.KeyUsage = x509.KeyUsageKeyEncipherment
	encCertDER, _ := x509.CreateCertificate(rand.Reader, &tmpl2, &tmpl2, &rsaKey.PublicKey, rsaKey)
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)

	ecJWK := func(extra string) string {
		k, _ := keys.Generate("ES256")
		_ = k
		x := b64(string(ecKey.PublicKey.X.FillBytes(make([]byte, 32))))
		y := b64(string(ecKey.PublicKey.Y.FillBytes(make([]byte, 32))))
		return fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q,"y":%q,"kid":"ec-1"%s}`, x, y, extra)
	}
	tests := []struct {
		name    string
		data    string
		wantErr string // substring; empty means success
		n       int
		alg     keys.Alg
	}{
		{name: "PKCS#1 private", data: string(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))), n: 1},
		{name: "PKCS#1 public", data: string(pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))), n: 1},
		{name: "PKCS#8 RSA", data: string(pemBlock("PRIVATE KEY", pkcs8(rsaKey))), n: 1},
		{name: "PKCS#8 EC", data: string(pemBlock("PRIVATE KEY", pkcs8(ecKey))), n: 1, alg: "ES256"},
		{name: "PKCS#8 Ed25519", data: string(pemBlock("PRIVATE KEY", pkcs8(edPriv))), n: 1, alg: "EdDSA"},
		{name: "SEC1 EC", data: string(pemBlock("EC PRIVATE KEY", sec1)), n: 1, alg: "ES256"},
		{name: "PKIX RSA", data: string(pemBlock("PUBLIC KEY", pkixDER(&rsaKey.PublicKey))), n: 1},
		{name: "PKIX Ed25519", data: string(pemBlock("PUBLIC KEY", pkixDER(edPub))), n: 1, alg: "EdDSA"},
		{name: "certificate", data: string(pemBlock("CERTIFICATE", certDER)), n: 1},
		{name: "two blocks", data: string(pemBlock("PUBLIC KEY", pkixDER(edPub))) + string(pemBlock("PUBLIC KEY", pkixDER(&ecKey.PublicKey))), n: 2},
		{name: "JWK EC", data: ecJWK(""), n: 1, alg: "ES256"},
		{name: "JWK oct", data: `{"kty":"oct","k":"` + b64(string(testSecret)) + `","alg":"HS256"}`, n: 1, alg: "HS256"},
		{name: "JWKS", data: `{"keys":[` + ecJWK("") + `,{"kty":"oct","k":"` + b64(string(testSecret)) + `"},{"kty":"X25519-unknown"}]}`, n: 2},
		{name: "weak RSA", data: string(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weakRSA))), wantErr: "too small"},
		{name: "short HMAC", data: `{"kty":"oct","k":"` + b64("short") + `"}`, wantErr: "too short"},
		{name: "short HMAC for its alg", data: `{"kty":"oct","k":"` + b64(string(testSecret)) + `","alg":"HS512"}`, wantErr: "too short"},
		{name: "empty HMAC", data: `{"kty":"oct","k":""}`, wantErr: "empty"},
		{name: "alg none in JWK", data: ecJWK(`,"alg":"none"`), wantErr: "never accepted"},
		{name: "alg mismatch in JWK", data: ecJWK(`,"alg":"RS256"`), wantErr: "does not fit"},
		{name: "empty file", data: "  \n", wantErr: "empty"},
		{name: "garbage", data: "hello", wantErr: "unrecognized"},
		{name: "bad PEM type", data: string(pemBlock("SOMETHING", []byte{1})), wantErr: "unsupported type"},
		{name: "encrypted PEM", data: string(pemBlock("ENCRYPTED PRIVATE KEY", []byte{1})), wantErr: "encrypted"},
		{name: "truncated PEM", data: string(pemBlock("PUBLIC KEY", pkixDER(edPub)))[:60], wantErr: "no PEM"},
		{name: "JWKS without keys", data: `{"keys":[]}`, wantErr: "no keys"},
		{name: "JWK bad JSON", data: `{"kty":`, wantErr: "JWK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := keys.Parse([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			if len(ks) != tt.n {
				t.Fatalf("got %d keys, want %d", len(ks), tt.n)
			}
			if tt.alg != "" && ks[0].Alg != tt.alg {
				t.Fatalf("alg %q, want %q", ks[0].Alg, tt.alg)
			}
		})
	}
	t.Run("certificate forbidding signatures", func(t *testing.T) {
		ks, err := keys.Parse(pemBlock("CERTIFICATE", encCertDER))
		if err != nil {
			t.Fatal(err)
		}
		if err := ks[0].CheckVerify("RS256"); err == nil {
			t.Fatal("a key-encipherment certificate was accepted for signature verification")
		}
	})
}

// TestKeyUsage refuses JWKs whose use or key_ops forbid verification.
func TestKeyUsage(t *testing.T) {
	l := openLedger(t)
	k := `"kty":"oct","k":"` + b64(string(testSecret)) + `"`
	raw := hs256(hsHeader, claimsAt(time.Hour, ""))
	tests := []struct {
		name string
		jwk  string
		want token.Outcome
	}{
		{name: "use sig", jwk: `{` + k + `,"use":"sig"}`, want: token.Valid},
		{name: "use enc", jwk: `{` + k + `,"use":"enc"}`, want: token.UnsupportedAlg},
		{name: "key_ops verify", jwk: `{` + k + `,"key_ops":["verify"]}`, want: token.Valid},
		{name: "key_ops sign only", jwk: `{` + k + `,"key_ops":["sign"]}`, want: token.UnsupportedAlg},
		{name: "key_ops empty", jwk: `{` + k + `,"key_ops":[]}`, want: token.UnsupportedAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := keys.Parse([]byte(tt.jwk))
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Verify(context.Background(), raw, jwtledger.WithKeys(ks...))
			if got := token.OutcomeOf(err); got != tt.want {
				t.Fatalf("outcome %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestRotationAndRetirement(t *testing.T) {
	l := openLedger(t)
	ctx := context.Background()
	before, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if before.Alg != "ES256" {
		t.Fatalf("first key alg %s, want ES256", before.Alg)
	}
	info, err := l.RotateKey(ctx, "", jwtledger.Meta{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	after, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if after.KID != info.KID || after.KID == before.KID {
		t.Fatalf("after rotation signed by %s, want %s", after.KID, info.KID)
	}
	if _, err := l.Verify(ctx, before.Token); err != nil {
		t.Fatalf("token of the verify-only key: %v", err)
	}
	ks, _ := l.Keys(ctx)
	states := map[string]keys.State{}
	for _, k := range ks {
		states[k.KID] = k.State
	}
	if states[before.KID] != keys.VerifyOnly || states[info.KID] != keys.Active {
		t.Fatalf("states after rotation: %v", states)
	}
	var jwks struct{ Keys []map[string]any }
	j, _ := l.JWKS(ctx)
	if err := json.Unmarshal(j, &jwks); err != nil || len(jwks.Keys) != 2 {
		t.Fatalf("JWKS %s: %v", j, err)
	}
	for _, k := range jwks.Keys {
		if _, ok := k["d"]; ok {
			t.Fatalf("JWKS publishes private material: %s", j)
		}
	}
	if err := l.RetireKey(ctx, before.KID, jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, before.Token); token.OutcomeOf(err) != token.UnknownKey {
		t.Fatalf("token of a retired key: %v, want unknown_key", err)
	}
	if err := l.RetireKey(ctx, "nope", jwtledger.Meta{}); err == nil {
		t.Fatal("retiring an unknown key succeeded")
	}
}

func TestKeysSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l1, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := l1.Issue(ctx, jwtledger.IssueRequest{Subject: "a"})
	if err != nil {
		t.Fatal(err)
	}
	l1.Close()
	l2, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if _, err := l2.Verify(ctx, iss.Token); err != nil {
		t.Fatalf("verify after reopen: %v", err)
	}
	_, err = jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, MasterKey: make([]byte, 32)})
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("open with the wrong master key: %v", err)
	}
}

// TestScheduledRotation walks a rotation with an injected clock: the next
// key is published in the JWKS before it signs, becomes active on time, and
// the old key verifies until its tokens expired, then is retired.
func TestScheduledRotation(t *testing.T) {
	clock := newStepClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir(), Now: clock.Now,
		RotateEvery: 24 * time.Hour, PrePublish: 10 * time.Minute, MaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	step := func(d time.Duration) {
		t.Helper()
		clock.Add(d)
		if err := l.RunKeySchedule(ctx); err != nil {
			t.Fatal(err)
		}
	}
	jwksKIDs := func() string {
		j, _ := l.JWKS(ctx)
		var set struct{ Keys []struct{ Kid string } }
		json.Unmarshal(j, &set)
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return strings.Join(kids, ",")
	}
	first, _ := l.Issue(ctx, jwtledger.IssueRequest{Subject: "a", TTL: time.Hour})
	step(23 * time.Hour) // nothing due yet
	if ks, _ := l.Keys(ctx); len(ks) != 1 {
		t.Fatalf("a key appeared early: %+v", ks)
	}
	step(50 * time.Minute) // 10 minutes before the key is a day old: pre-publish
	ks, _ := l.Keys(ctx)
	if len(ks) != 2 || ks[1].State != keys.VerifyOnly || ks[1].Activates.IsZero() {
		t.Fatalf("no pre-published key: %+v", ks)
	}
	next := ks[1].KID
	if !strings.Contains(jwksKIDs(), next) {
		t.Fatalf("pre-published key %s not in the JWKS %s", next, jwksKIDs())
	}
	if iss, _ := l.Issue(ctx, jwtledger.IssueRequest{Subject: "b", TTL: time.Hour}); iss.KID != first.KID {
		t.Fatalf("the pre-published key signs early")
	}
	step(10 * time.Minute) // its time has come
	last, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "c", TTL: time.Hour})
	if err != nil || last.KID != next {
		t.Fatalf("after activation signed by %s, want %s (%v)", last.KID, next, err)
	}
	if _, err := l.Verify(ctx, last.Token); err != nil {
		t.Fatal(err)
	}
	step(30 * time.Minute) // old key still needed for tokens issued before
	if ks, _ := l.Keys(ctx); ks[0].State != keys.VerifyOnly {
		t.Fatalf("old key %+v, want verify-only", ks[0])
	}
	step(time.Hour) // every token of the old key has expired
	if ks, _ := l.Keys(ctx); ks[0].State != keys.Retired || strings.Contains(jwksKIDs(), first.KID) {
		t.Fatalf("old key %+v not retired; JWKS %s", ks[0], jwksKIDs())
	}
	recs, _ := l.Trail().Query(ctx, trail.Filter{})
	var events []string
	for _, r := range recs {
		if strings.HasPrefix(string(r.Event), "key.") {
			events = append(events, string(r.Event))
		}
	}
	if strings.Join(events, " ") != "key.create key.create key.rotate key.retire" {
		t.Fatalf("key events: %v", events)
	}
}
