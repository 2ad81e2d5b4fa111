package keys_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger/internal/keys"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata")

// rocaPrime makes a prime of bits bits with the structure of the ROCA
// weakness: p = k*M + (65537^a mod M), M the product of the primes up to
// 167 (the Infineon library's M for 512-bit keys; larger keys used larger
// primorials, of which this one is a factor).
func rocaPrime(t *testing.T, bits int) *big.Int {
	t.Helper()
	m := big.NewInt(1)
	for r := int64(2); r <= 167; r++ {
		if big.NewInt(r).ProbablyPrime(0) {
			m.Mul(m, big.NewInt(r))
		}
	}
	e := big.NewInt(65537)
	for range 100000 {
		// k*M spans [2^(bits-1)*sqrt(2), 2^bits) for some k below 2^bits/M.
		k, _ := rand.Int(rand.Reader, new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), uint(bits)), m))
		a, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		p := new(big.Int).Mul(k, m)
		p.Add(p, new(big.Int).Exp(e, a, m))
		pm1 := new(big.Int).Sub(p, big.NewInt(1))
		if p.BitLen() == bits && new(big.Int).Mul(p, p).BitLen() == 2*bits && new(big.Int).GCD(nil, nil, e, pm1).Cmp(big.NewInt(1)) == 0 && p.ProbablyPrime(20) {
			return p
		}
	}
	t.Fatal("no ROCA-structured prime found")
	return nil
}

// rocaKey makes an RSA private key of two ROCA-structured primes.
func rocaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	p, q := rocaPrime(t, bits/2), rocaPrime(t, bits/2)
	n := new(big.Int).Mul(p, q)
	phi := new(big.Int).Mul(new(big.Int).Sub(p, big.NewInt(1)), new(big.Int).Sub(q, big.NewInt(1)))
	d := new(big.Int).ModInverse(big.NewInt(65537), phi)
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
	k.Precompute()
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(t *testing.T, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ROCA-weak RSA keys are refused however they come (private or public,
// PEM or JWK), by their fingerprint: a vector made here each run, and the
// one kept in testdata/roca-2048.pem. Honest keys never are.
func TestROCARefused(t *testing.T) {
	if *update {
		k := rocaKey(t, 2048)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		if err := os.WriteFile("testdata/roca-2048.pem", pemOf(t, "PRIVATE KEY", der), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.ReadFile("testdata/roca-2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	fresh := rocaKey(t, 2048)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(fresh)
	pkix, _ := x509.MarshalPKIXPublicKey(&fresh.PublicKey)
	jwk, _ := json.Marshal(map[string]string{"kty": "RSA", "kid": "roca", "alg": "RS256",
		"n": b64(fresh.N.Bytes()), "e": "AQAB"})
	cases := []struct {
		name string
		data []byte
	}{
		{"kept vector", kept},
		{"private PKCS#8", pemOf(t, "PRIVATE KEY", pkcs8)},
		{"private PKCS#1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(fresh))},
		{"public PKIX", pemOf(t, "PUBLIC KEY", pkix)},
		{"public JWK", jwk},
		{"in a JWKS", []byte(`{"keys":[` + string(jwk) + `]}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := keys.Parse(c.data); !errors.Is(err, keys.ErrROCA) {
				t.Fatalf("Parse = %v, want ErrROCA", err)
			}
		})
	}
	if !keys.IsROCA(fresh.N) {
		t.Fatal("fresh ROCA modulus not detected")
	}
	// Honest moduli: generated keys, and random odd 2048-bit numbers (the
	// fingerprint is a property of N mod small primes; a random N passes
	// with probability 2^-27.8).
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if keys.IsROCA(k.N) {
			t.Fatal("an honest key flagged as ROCA")
		}
	}
	flagged := 0
	for range 100000 {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 2048))
		n.SetBit(n, 0, 1)
		if keys.IsROCA(n) {
			flagged++
		}
	}
	if flagged > 0 {
		t.Fatalf("%d of 100,000 random moduli flagged", flagged)
	}
}

// A key set whose keys share a kid is refused, naming the kid: the hand-
// made testdata/duplicate-kid.jwks (two different P-256 keys, kid "k1").
func TestDuplicateKIDRefused(t *testing.T) {
	if *update {
		var set []json.RawMessage
		for range 2 {
			k, _ := keys.Generate(keys.ES256)
			j, _ := k.PublicJWK()
			var m map[string]any
			json.Unmarshal(j, &m)
			m["kid"] = "k1"
			b, _ := json.Marshal(m)
			set = append(set, b)
		}
		b, _ := json.MarshalIndent(map[string]any{"keys": set}, "", "  ")
		os.WriteFile("testdata/duplicate-kid.jwks", append(b, '\n'), 0o644)
	}
	data, err := os.ReadFile("testdata/duplicate-kid.jwks")
	if err != nil {
		t.Fatal(err)
	}
	_, err = keys.Parse(data)
	if !errors.Is(err, keys.ErrDuplicateKID) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("Parse = %v, want ErrDuplicateKID naming k1", err)
	}
	// The same two keys under distinct kids are fine.
	if _, err := keys.Parse([]byte(strings.Replace(string(data), `"k1"`, `"k2"`, 1))); err != nil {
		t.Fatalf("distinct kids: %v", err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
