package jwtledger_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
)

// TestInterop checks that golang-jwt verifies our tokens and that we verify
// golang-jwt's, for every algorithm.
func TestInterop(t *testing.T) {
	l := openLedger(t, func(c *jwtledger.Config) { c.Now = time.Now })
	ctx := context.Background()
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k, err := keys.Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			signKey, verifyKey := goJWTKeys(t, k)
			method := jwt.GetSigningMethod(string(alg))

			// Ours, verified by golang-jwt.
			iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice", Audience: []string{"api"}, Key: k, Claims: map[string]any{"role": "admin"}})
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.Parse(iss.Token, func(*jwt.Token) (any, error) { return verifyKey, nil },
				jwt.WithValidMethods([]string{string(alg)}), jwt.WithAudience("api"), jwt.WithIssuer("jwtledger"), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatalf("golang-jwt refused our token: %v", err)
			}
			if sub, _ := parsed.Claims.GetSubject(); sub != "alice" || parsed.Header["kid"] != k.KID {
				t.Fatalf("golang-jwt read sub %q kid %v", sub, parsed.Header["kid"])
			}

			// golang-jwt's, verified by us.
			theirs := jwt.NewWithClaims(method, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix(), "iss": "them", "aud": []string{"x", "y"}})
			theirs.Header["kid"] = k.KID
			raw, err := theirs.SignedString(signKey)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := l.Verify(ctx, raw, jwtledger.WithKeys(k), jwtledger.WithIssuer("them"), jwtledger.WithAudience("y"))
			if err != nil {
				t.Fatalf("we refused golang-jwt's token: %v", err)
			}
			if tok.Claims.Subject != "bob" {
				t.Fatalf("sub %q", tok.Claims.Subject)
			}
		})
	}
}

// goJWTKeys returns k's material in the forms golang-jwt wants.
func goJWTKeys(t *testing.T, k *keys.Key) (sign, verify any) {
	t.Helper()
	if k.Family().String() == "HMAC" {
		j, err := k.UnsafeExportPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		ks, err := keys.Parse(j)
		if err != nil {
			t.Fatal(err)
		}
		secret := hmacSecretOf(t, ks[0])
		return secret, secret
	}
	p, err := k.UnsafeExportPrivatePEM()
	if err != nil {
		t.Fatal(err)
	}
	priv := mustParsePrivatePEM(t, p)
	return priv, priv.(crypto.Signer).Public()
}
