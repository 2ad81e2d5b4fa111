package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// MaxKeyFileSize bounds what Parse reads, so a hostile file cannot exhaust memory.
const MaxKeyFileSize = 1 << 20

// Parse reads keys from PEM (PKCS#1, PKCS#8, PKIX, SEC1, X.509 certificates;
// several blocks allowed), a JWK or a JWKS. The format is detected from the
// content. Weak keys (RSA under [MinRSABits], empty or short HMAC secrets,
// unknown curves) are refused.
func Parse(data []byte) ([]*Key, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("key data is larger than %d bytes", MaxKeyFileSize)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("key data is empty")
	case trimmed[0] == '{':
		return parseJSON(trimmed)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN ")):
		return ParsePEM(trimmed)
	}
	return nil, errors.New("unrecognized key format (want PEM, JWK or JWKS; use --secret-file for a raw HMAC secret)")
}

// NewHMAC wraps a raw HMAC secret. alg may be empty, in which case the key
// serves any HS algorithm its length permits.
func NewHMAC(secret []byte, alg Alg) (*Key, error) {
	if alg != "" && alg.Family() != FamilyHMAC {
		return nil, fmt.Errorf("a raw secret needs an HMAC algorithm, not %s", alg)
	}
	return newKey(bytes.Clone(secret), alg, "")
}

// ParsePEM reads every key in a sequence of PEM blocks.
func ParsePEM(data []byte) ([]*Key, error) {
	var out []*Key
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, enc := block.Headers["Proc-Type"]; enc || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, fmt.Errorf("PEM block %d: encrypted private keys are not supported; decrypt it first", n)
		}
		var material any
		var err error
		noSign := false
		switch block.Type {
		case "PRIVATE KEY":
			material, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			material, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			material, err = x509.ParseECPrivateKey(block.Bytes)
		case "PUBLIC KEY":
			material, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			material, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				material = cert.PublicKey
				if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
					noSign = true // checked as noVerify below: the certificate forbids signatures
				}
			}
		case "EC PARAMETERS":
			continue
		default:
			return nil, fmt.Errorf("PEM block %d: unsupported type %q", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		k, err := newKey(material, "", "")
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		if noSign {
			k.noVerify = true
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM key block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the last PEM block")
	}
	return out, nil
}

// jwkMeta holds the JWK members go-jose does not interpret for us.
type jwkMeta struct {
	Kty    string          `json:"kty"`
	Alg    string          `json:"alg"`
	Use    string          `json:"use"`
	KeyOps []string        `json:"key_ops"`
	Keys   json.RawMessage `json:"keys"`
}

func parseJSON(data []byte) ([]*Key, error) {
	var meta jwkMeta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("parse JWK: %w", err)
	}
	if meta.Keys == nil {
		k, err := parseJWK(data, meta)
		if err != nil {
			return nil, err
		}
		return []*Key{k}, nil
	}
	var set []json.RawMessage
	if err := json.Unmarshal(meta.Keys, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: \"keys\" is not an array of objects: %w", err)
	}
	var out []*Key
	var skipped []string
	for i, raw := range set {
		var m jwkMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("parse JWKS key %d: %w", i, err)
		}
		switch m.Kty {
		case "RSA", "EC", "OKP", "oct":
		default:
			// RFC 7517 section 5: ignore key types we do not understand.
			skipped = append(skipped, fmt.Sprintf("key %d has unsupported kty %q", i, m.Kty))
			continue
		}
		k, err := parseJWK(raw, m)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		out = append(out, k)
	}
	if err := CheckUniqueKIDs(out); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	if len(out) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("JWKS holds no usable key (%s)", skipped[0])
		}
		return nil, errors.New("JWKS holds no keys")
	}
	return out, nil
}

func parseJWK(data []byte, meta jwkMeta) (*Key, error) {
	var alg Alg
	if meta.Alg != "" {
		a, err := ParseAlg(meta.Alg)
		if err != nil {
			return nil, fmt.Errorf("JWK: %w", err)
		}
		alg = a
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("parse JWK: %w", err)
	}
	if jwk.Key == nil {
		return nil, fmt.Errorf("JWK: unsupported key type %q", meta.Kty)
	}
	k, err := newKey(jwk.Key, alg, jwk.KeyID)
	if err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	k.NamedKID = jwk.KeyID != ""
	if meta.Use != "" && meta.Use != "sig" {
		k.noSign, k.noVerify = true, true
	}
	if meta.KeyOps != nil {
		k.noSign = !slices.Contains(meta.KeyOps, "sign")
		k.noVerify = !slices.Contains(meta.KeyOps, "verify")
	}
	return k, nil
}

func newKey(material any, alg Alg, kid string) (*Key, error) {
	k := &Key{KID: kid, Alg: alg}
	switch m := material.(type) {
	case []byte:
		k.family, k.secret = FamilyHMAC, m
		if len(m) == 0 {
			return nil, errors.New("HMAC secret is empty")
		}
		if alg == "" && len(m) < 32 {
			return nil, fmt.Errorf("HMAC secret of %d bytes is too short (minimum 32 bytes for HS256)", len(m))
		}
	case *rsa.PrivateKey:
		if err := checkRSA(&m.PublicKey); err != nil {
			return nil, err
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("invalid RSA private key: %w", err)
		}
		m.Precompute()
		k.family, k.priv, k.pub = FamilyRSA, m, &m.PublicKey
	case *rsa.PublicKey:
		if err := checkRSA(m); err != nil {
			return nil, err
		}
		k.family, k.pub = FamilyRSA, m
	case *ecdsa.PrivateKey:
		k.family, k.priv, k.pub = FamilyEC, m, &m.PublicKey
	case *ecdsa.PublicKey:
		k.family, k.pub = FamilyEC, m
	case ed25519.PrivateKey:
		if len(m) != ed25519.PrivateKeySize {
			return nil, errors.New("invalid Ed25519 private key size")
		}
		k.family, k.priv, k.pub = FamilyEd25519, m, m.Public()
	case ed25519.PublicKey:
		if len(m) != ed25519.PublicKeySize {
			return nil, errors.New("invalid Ed25519 public key size")
		}
		k.family, k.pub = FamilyEd25519, m
	default:
		return nil, fmt.Errorf("unsupported key type %T (want RSA, EC P-256/384/521, Ed25519 or an HMAC secret)", material)
	}
	if k.family == FamilyEC {
		curveAlg := algForCurve(k.pub.(*ecdsa.PublicKey).Curve)
		if curveAlg == "" {
			return nil, fmt.Errorf("unsupported elliptic curve %s", k.pub.(*ecdsa.PublicKey).Curve.Params().Name)
		}
		if alg == "" {
			k.Alg = curveAlg
		}
	}
	if k.family == FamilyEd25519 && alg == "" {
		k.Alg = EdDSA
	}
	if k.Alg != "" {
		if k.Alg.Family() != k.family {
			return nil, fmt.Errorf("algorithm %s does not fit a %s key", k.Alg, k.family)
		}
		if err := checkStrength(k.family, k.Alg, k.secret, k.pub); err != nil {
			return nil, err
		}
	}
	if k.KID == "" {
		tp, err := Thumbprint(k)
		if err != nil {
			return nil, err
		}
		k.KID = tp
	}
	return k, nil
}

func checkRSA(p *rsa.PublicKey) error {
	if bits := p.N.BitLen(); bits < MinRSABits {
		return fmt.Errorf("RSA key of %d bits is too small (minimum %d)", bits, MinRSABits)
	}
	if bits := p.N.BitLen(); bits > MaxRSABits {
		return fmt.Errorf("RSA key of %d bits is larger than the %d supported", bits, MaxRSABits)
	}
	if p.E < 3 || p.E%2 == 0 {
		return fmt.Errorf("RSA public exponent %d is invalid", p.E)
	}
	if IsROCA(p.N) {
		return ErrROCA
	}
	return nil
}

// ErrROCA refuses an RSA key made by a library with the ROCA weakness.
var ErrROCA = errors.New("RSA modulus has the ROCA weakness (CVE-2017-15361): its private key can be computed from it; generate a new key with an unaffected library")

// Bind returns a copy of k restricted to alg, after checking that k fits it.
func (k *Key) Bind(alg Alg) (*Key, error) {
	if err := k.check(alg); err != nil {
		return nil, err
	}
	c := &Key{KID: k.KID, Alg: alg, State: k.State, Created: k.Created, Rotated: k.Rotated, NamedKID: k.NamedKID,
		family: k.family, secret: k.secret, priv: k.priv, pub: k.pub, noSign: k.noSign, noVerify: k.noVerify}
	return c, nil
}

// material returns the key as go-jose expects it: private when available.
func (k *Key) material() any {
	switch {
	case k.secret != nil:
		return k.secret
	case k.priv != nil:
		if e, ok := k.priv.(ed25519.PrivateKey); ok {
			return e
		}
		return k.priv
	}
	return k.pub
}

var _ crypto.Signer = (*ecdsa.PrivateKey)(nil)

// ErrDuplicateKID refuses a key set in which two keys carry the same kid:
// which one a token naming it means would be a guess (and a key swapped in
// next to the right one would verify).
var ErrDuplicateKID = errors.New("two keys have the same kid")

// CheckUniqueKIDs refuses a set of keys in which two keys that carry a kid
// of their own (JWK kid) have the same one.
func CheckUniqueKIDs(ks []*Key) error {
	seen := map[string]bool{}
	for _, k := range ks {
		if !k.NamedKID {
			continue
		}
		if seen[k.KID] {
			return fmt.Errorf("%w: %q", ErrDuplicateKID, truncateKID(k.KID))
		}
		seen[k.KID] = true
	}
	return nil
}

func truncateKID(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
