package keys

import (
	"crypto"
	"fmt"
	"strings"

	// Hash implementations registered for crypto.Hash.New.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Alg is a JWS algorithm name (RFC 7518, RFC 8037).
type Alg string

// The algorithms jwtledger signs and verifies. "none" is deliberately absent.
const (
	HS256 Alg = "HS256"
	HS384 Alg = "HS384"
	HS512 Alg = "HS512"
	RS256 Alg = "RS256"
	RS384 Alg = "RS384"
	RS512 Alg = "RS512"
	PS256 Alg = "PS256"
	PS384 Alg = "PS384"
	PS512 Alg = "PS512"
	ES256 Alg = "ES256"
	ES384 Alg = "ES384"
	ES512 Alg = "ES512"
	EdDSA Alg = "EdDSA"
)

// Algs lists every supported algorithm in a stable order.
var Algs = []Alg{HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA}

// Family groups algorithms that share a key type.
type Family int

// Key families.
const (
	FamilyNone Family = iota
	FamilyHMAC
	FamilyRSA // RS* and PS*
	FamilyEC
	FamilyEd25519
)

func (f Family) String() string {
	switch f {
	case FamilyHMAC:
		return "HMAC"
	case FamilyRSA:
		return "RSA"
	case FamilyEC:
		return "EC"
	case FamilyEd25519:
		return "Ed25519"
	}
	return "unknown"
}

// MinRSABits is the smallest RSA modulus accepted for signing or verifying;
// MaxRSABits bounds the work a hostile key can cause.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// Family reports the key family of a, or FamilyNone for an unknown algorithm.
func (a Alg) Family() Family {
	switch a {
	case HS256, HS384, HS512:
		return FamilyHMAC
	case RS256, RS384, RS512, PS256, PS384, PS512:
		return FamilyRSA
	case ES256, ES384, ES512:
		return FamilyEC
	case EdDSA:
		return FamilyEd25519
	}
	return FamilyNone
}

// Hash is the digest a uses (zero for EdDSA, which hashes internally).
func (a Alg) Hash() crypto.Hash {
	switch a {
	case HS256, RS256, PS256, ES256:
		return crypto.SHA256
	case HS384, RS384, PS384, ES384:
		return crypto.SHA384
	case HS512, RS512, PS512, ES512:
		return crypto.SHA512
	}
	return 0
}

// Valid reports whether a is a supported algorithm.
func (a Alg) Valid() bool { return a.Family() != FamilyNone }

func (a Alg) isPSS() bool { return a == PS256 || a == PS384 || a == PS512 }

// curveBytes is the size of one ECDSA signature half for a.
func (a Alg) curveBytes() int {
	switch a {
	case ES256:
		return 32
	case ES384:
		return 48
	case ES512:
		return 66
	}
	return 0
}

// ParseAlg parses an algorithm name. Names are case-sensitive, as in JOSE.
func ParseAlg(s string) (Alg, error) {
	a := Alg(s)
	if a.Valid() {
		return a, nil
	}
	if strings.EqualFold(s, "none") {
		return "", fmt.Errorf("algorithm %q is never accepted", s)
	}
	return "", fmt.Errorf("unsupported algorithm %q (supported: %s)", s, algList())
}

func algList() string {
	s := make([]string, len(Algs))
	for i, a := range Algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
