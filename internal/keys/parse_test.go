package keys_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// parseInputs builds the keys the table of TestParse reads, once.
type parseInputs struct {
	ecPKCS8, ecSEC1, ecPublic, edPKCS8, edPublic []byte
	rsaPKCS1, rsaPKCS1Public, rsaSmall, ecJWK    []byte
	certSigning, certNoSignature, ecWithParams   []byte
	p224                                         []byte
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func newParseInputs(t *testing.T) *parseInputs {
	t.Helper()
	in := &parseInputs{}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	in.ecPKCS8 = pemBlock("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ec)))
	in.ecSEC1 = pemBlock("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ec)))
	in.ecPublic = pemBlock("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&ec.PublicKey)))
	in.ecWithParams = append(pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}), in.ecSEC1...)
	ed, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	in.edPKCS8 = must(ed.UnsafeExportPrivatePEM())
	in.edPublic = must(ed.PublicPEM())
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	in.rsaPKCS1 = pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))
	in.rsaPKCS1Public = pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rk.PublicKey))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	in.rsaSmall = pemBlock("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&small.PublicKey)))
	ek, err := keys.Generate(keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	in.ecJWK = must(ek.UnsafeExportPrivateJWK())
	cert := func(usage x509.KeyUsage) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: usage}
		return pemBlock("CERTIFICATE", must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)))
	}
	in.certSigning = cert(x509.KeyUsageDigitalSignature)
	in.certNoSignature = cert(x509.KeyUsageKeyEncipherment)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	in.p224 = pemBlock("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&p224.PublicKey)))
	return in
}

func octJWK(secret []byte, members string) []byte {
	return []byte(`{"kty":"oct","k":"` + base64.RawURLEncoding.EncodeToString(secret) + `"` + members + `}`)
}

// TestParse reads every key format Parse accepts and the refusals it
// must give: the number of keys, their family, algorithm and whether they
// may sign and verify, or a substring of the error.
func TestParse(t *testing.T) {
	in := newParseInputs(t)
	secret32 := bytes.Repeat([]byte{7}, 32)
	dupKID, err := os.ReadFile("testdata/duplicate-kid.jwks")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		n       int         // keys returned
		family  keys.Family // of the first key
		alg     keys.Alg    // of the first key ("" for an unbound key)
		private bool
		sign    bool // the first key may sign with alg (or HS256 when unbound)
		verify  bool
		err     string // substring of the refusal
	}{
		{name: "EC PKCS#8", data: in.ecPKCS8, n: 1, family: keys.FamilyEC, alg: keys.ES256, private: true, sign: true, verify: true},
		{name: "EC SEC1", data: in.ecSEC1, n: 1, family: keys.FamilyEC, alg: keys.ES256, private: true, sign: true, verify: true},
		{name: "EC PKIX public", data: in.ecPublic, n: 1, family: keys.FamilyEC, alg: keys.ES256, verify: true},
		{name: "EC PARAMETERS block skipped", data: in.ecWithParams, n: 1, family: keys.FamilyEC, alg: keys.ES256, private: true, sign: true, verify: true},
		{name: "Ed25519 PKCS#8", data: in.edPKCS8, n: 1, family: keys.FamilyEd25519, alg: keys.EdDSA, private: true, sign: true, verify: true},
		{name: "Ed25519 public", data: in.edPublic, n: 1, family: keys.FamilyEd25519, alg: keys.EdDSA, verify: true},
		{name: "RSA PKCS#1 private", data: in.rsaPKCS1, n: 1, family: keys.FamilyRSA, private: true, sign: true, verify: true},
		{name: "RSA PKCS#1 public", data: in.rsaPKCS1Public, n: 1, family: keys.FamilyRSA, verify: true},
		{name: "two PEM blocks", data: append(append([]byte{}, in.ecPublic...), in.edPublic...), n: 2, family: keys.FamilyEC, alg: keys.ES256, verify: true},
		{name: "certificate for signatures", data: in.certSigning, n: 1, family: keys.FamilyEC, alg: keys.ES256, verify: true},
		{name: "certificate without digital signature usage", data: in.certNoSignature, n: 1, family: keys.FamilyEC, alg: keys.ES256},
		{name: "surrounding whitespace", data: append(append([]byte("\n  "), in.ecPublic...), "\n\n"...), n: 1, family: keys.FamilyEC, alg: keys.ES256, verify: true},
		{name: "EC JWK", data: in.ecJWK, n: 1, family: keys.FamilyEC, alg: keys.ES256, private: true, sign: true, verify: true},
		{name: "oct JWK", data: octJWK(secret32, `,"alg":"HS256"`), n: 1, family: keys.FamilyHMAC, alg: keys.HS256, private: true, sign: true, verify: true},
		{name: "oct JWK for encryption", data: octJWK(secret32, `,"use":"enc"`), n: 1, family: keys.FamilyHMAC, private: true},
		{name: "oct JWK to verify only", data: octJWK(secret32, `,"key_ops":["verify"]`), n: 1, family: keys.FamilyHMAC, private: true, verify: true},
		{name: "JWKS skips unknown kty", data: []byte(`{"keys":[{"kty":"XYZ"},` + string(octJWK(secret32, "")) + `]}`), n: 1, family: keys.FamilyHMAC, private: true, sign: true, verify: true},

		{name: "empty", data: []byte(" \n"), err: "key data is empty"},
		{name: "too large", data: bytes.Repeat([]byte{' '}, keys.MaxKeyFileSize+1), err: "larger than"},
		{name: "unknown format", data: []byte("ssh-ed25519 AAAA"), err: "unrecognized key format"},
		{name: "encrypted PEM", data: pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}), err: "encrypted private keys are not supported"},
		{name: "unsupported PEM type", data: pemBlock("OPENSSH PRIVATE KEY", []byte{1}), err: `unsupported type "OPENSSH PRIVATE KEY"`},
		{name: "corrupt PEM body", data: pemBlock("PUBLIC KEY", []byte{1, 2, 3}), err: "PEM block 1 (PUBLIC KEY)"},
		{name: "data after the last block", data: append(append([]byte{}, in.ecPublic...), "trailing"...), err: "unexpected data after the last PEM block"},
		{name: "BEGIN without a block", data: []byte("-----BEGIN PUBLIC KEY-----\n"), err: "no PEM key block found"},
		{name: "RSA below the floor", data: in.rsaSmall, err: "RSA key of 1024 bits is too small"},
		{name: "curve P-224", data: in.p224, err: "unsupported elliptic curve P-224"},
		{name: "short HMAC secret", data: octJWK([]byte("short"), ""), err: "HMAC secret of 5 bytes is too short"},
		{name: "HMAC secret short for its alg", data: octJWK(secret32, `,"alg":"HS512"`), err: "too short for HS512"},
		{name: "alg not fitting the key", data: octJWK(secret32, `,"alg":"ES256"`), err: "does not fit"},
		{name: "unknown alg", data: octJWK(secret32, `,"alg":"none"`), err: "JWK:"},
		{name: "invalid JSON", data: []byte(`{"kty":`), err: "parse JWK"},
		{name: "keys not an array", data: []byte(`{"keys":{}}`), err: `"keys" is not an array`},
		{name: "empty JWKS", data: []byte(`{"keys":[]}`), err: "JWKS holds no keys"},
		{name: "JWKS of unknown types only", data: []byte(`{"keys":[{"kty":"XYZ"}]}`), err: `no usable key (key 0 has unsupported kty "XYZ")`},
		{name: "JWKS with a bad key", data: []byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`), err: "JWKS key 0"},
		{name: "JWKS with a duplicate kid", data: dupKID, err: "JWKS:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := keys.Parse(tt.data)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse: %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(ks) != tt.n {
				t.Fatalf("%d keys, want %d", len(ks), tt.n)
			}
			k := ks[0]
			if k.KID == "" || k.Family() != tt.family || k.Alg != tt.alg || k.IsPrivate() != tt.private {
				t.Fatalf("key kid %q family %v alg %q private %v; want family %v alg %q private %v", k.KID, k.Family(), k.Alg, k.IsPrivate(), tt.family, tt.alg, tt.private)
			}
			alg := cmpOr(tt.alg, k.DefaultAlg())
			if got := k.CheckSign(alg) == nil; got != tt.sign {
				t.Fatalf("CheckSign(%s) = %v, want allowed %v", alg, k.CheckSign(alg), tt.sign)
			}
			if got := k.CheckVerify(alg) == nil; got != tt.verify {
				t.Fatalf("CheckVerify(%s) = %v, want allowed %v", alg, k.CheckVerify(alg), tt.verify)
			}
		})
	}
}

func cmpOr(a, b keys.Alg) keys.Alg {
	if a != "" {
		return a
	}
	return b
}

// TestNewHMAC wraps raw secrets: bound or not, and the refusals.
func TestNewHMAC(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		alg    keys.Alg
		err    string
	}{
		{name: "unbound 32 bytes", secret: bytes.Repeat([]byte{1}, 32)},
		{name: "HS512 with 64 bytes", secret: bytes.Repeat([]byte{1}, 64), alg: keys.HS512},
		{name: "HS384 with 32 bytes", secret: bytes.Repeat([]byte{1}, 32), alg: keys.HS384, err: "too short for HS384"},
		{name: "unbound 16 bytes", secret: bytes.Repeat([]byte{1}, 16), err: "too short"},
		{name: "empty", secret: nil, err: "HMAC secret is empty"},
		{name: "not an HMAC algorithm", secret: bytes.Repeat([]byte{1}, 32), alg: keys.ES256, err: "needs an HMAC algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.NewHMAC(tt.secret, tt.alg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("NewHMAC: %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || k.Family() != keys.FamilyHMAC || k.Alg != tt.alg || k.KID == "" {
				t.Fatalf("NewHMAC: %v %v", k, err)
			}
		})
	}
}
