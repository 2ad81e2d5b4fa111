package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/big"
	"sync"
	"time"
)

// State is the lifecycle state of a managed key.
type State string

// Key states: only an active key signs; active and verify-only keys verify;
// a retired key is kept for the record only.
const (
	Active     State = "active"
	VerifyOnly State = "verify-only"
	Retired    State = "retired"
)

// ParseState parses a key state name.
func ParseState(s string) (State, error) {
	switch State(s) {
	case Active, VerifyOnly, Retired:
		return State(s), nil
	}
	return "", fmt.Errorf("unknown key state %q (want active, verify-only or retired)", s)
}

// ErrSignature is returned by [Key.Verify] when the signature does not match.
var ErrSignature = errors.New("signature does not match")

// Key is a signing or verification key bound to one algorithm.
//
// A Key never prints its secret material: it implements [slog.LogValuer] and
// [fmt.Stringer] with the public identity only.
type Key struct {
	// KID is the key id: the RFC 7638 thumbprint for generated keys, or the
	// kid of an imported JWK.
	KID string
	// Alg is the one algorithm the key is used with. It is empty only for an
	// external RSA or HMAC key given without an algorithm, which then verifies
	// any algorithm of its family that its size permits.
	Alg     Alg
	State   State
	Created time.Time
	Rotated time.Time
	// NamedKID is set when the kid came with the key (a JWK's kid), so a
	// token naming another kid is not for this key. Keys from PEM files get
	// their thumbprint as kid and match tokens whatever kid they name.
	NamedKID bool

	family Family
	secret []byte
	priv   crypto.Signer
	pub    crypto.PublicKey

	noSign, noVerify bool // from JWK use/key_ops or certificate key usage

	hmacPools [3]sync.Pool // per SHA-2 size, reusing keyed HMAC state
}

// String returns the key's public identity.
func (k *Key) String() string {
	return fmt.Sprintf("%s key %s (%s)", k.family, k.KID, k.Alg)
}

// LogValue keeps key material out of logs.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("alg", string(k.Alg)), slog.String("state", string(k.State)))
}

// Family reports the key's family.
func (k *Key) Family() Family { return k.family }

// Public returns the public key, or nil for an HMAC key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// IsPrivate reports whether k can sign.
func (k *Key) IsPrivate() bool { return k.priv != nil || k.secret != nil }

// Bits reports the key size in bits (the secret length for HMAC).
func (k *Key) Bits() int {
	switch p := k.pub.(type) {
	case *rsa.PublicKey:
		return p.N.BitLen()
	case *ecdsa.PublicKey:
		return p.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	}
	return len(k.secret) * 8
}

// DefaultAlg is the algorithm used to sign with k when none is given.
func (k *Key) DefaultAlg() Alg {
	if k.Alg != "" {
		return k.Alg
	}
	switch k.family {
	case FamilyRSA:
		return RS256
	case FamilyHMAC:
		return HS256
	}
	return ""
}

// CheckVerify reports why k must not verify a token signed with a, or nil.
func (k *Key) CheckVerify(a Alg) error {
	if k.noVerify {
		return fmt.Errorf("key %s does not permit verification (use/key_ops)", k.KID)
	}
	return k.check(a)
}

// CheckSign reports why k must not sign with a, or nil.
func (k *Key) CheckSign(a Alg) error {
	if !k.IsPrivate() {
		return fmt.Errorf("key %s is a public key and cannot sign", k.KID)
	}
	if k.noSign {
		return fmt.Errorf("key %s does not permit signing (use/key_ops)", k.KID)
	}
	return k.check(a)
}

func (k *Key) check(a Alg) error {
	if k.Alg != "" && a != k.Alg {
		return fmt.Errorf("key %s is bound to %s, not %s", k.KID, k.Alg, a)
	}
	if a.Family() != k.family {
		return fmt.Errorf("algorithm %s does not fit %s key %s", a, k.family, k.KID)
	}
	return checkStrength(k.family, a, k.secret, k.pub)
}

// checkStrength enforces the minimum key sizes and the curve of each algorithm.
func checkStrength(f Family, a Alg, secret []byte, pub crypto.PublicKey) error {
	switch f {
	case FamilyHMAC:
		if min := a.Hash().Size(); len(secret) < min {
			return fmt.Errorf("HMAC secret of %d bytes is too short for %s (minimum %d bytes)", len(secret), a, min)
		}
	case FamilyRSA:
		if p, ok := pub.(*rsa.PublicKey); ok {
			if bits := p.N.BitLen(); bits < MinRSABits {
				return fmt.Errorf("RSA key of %d bits is too small (minimum %d)", bits, MinRSABits)
			}
		}
	case FamilyEC:
		if p, ok := pub.(*ecdsa.PublicKey); ok && p.Curve != curveOf(a) {
			return fmt.Errorf("%s needs curve %s, key is on %s", a, curveOf(a).Params().Name, p.Curve.Params().Name)
		}
	}
	return nil
}

func curveOf(a Alg) elliptic.Curve {
	switch a {
	case ES256:
		return elliptic.P256()
	case ES384:
		return elliptic.P384()
	case ES512:
		return elliptic.P521()
	}
	return nil
}

func algForCurve(c elliptic.Curve) Alg {
	switch c {
	case elliptic.P256():
		return ES256
	case elliptic.P384():
		return ES384
	case elliptic.P521():
		return ES512
	}
	return ""
}

// Sign signs input with algorithm a. Callers check [Key.CheckSign] first.
func (k *Key) Sign(a Alg, input []byte) ([]byte, error) {
	switch a.Family() {
	case FamilyHMAC:
		if k.secret == nil {
			return nil, fmt.Errorf("key %s is not an HMAC key", k.KID)
		}
		return k.mac(a, input, nil), nil
	case FamilyEd25519:
		p, ok := k.priv.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key %s is not an Ed25519 private key", k.KID)
		}
		return ed25519.Sign(p, input), nil
	}
	var buf [64]byte
	d := digest(a, input, buf[:0])
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		if a.isPSS() {
			return rsa.SignPSS(rand.Reader, p, a.Hash(), d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(nil, p, a.Hash(), d)
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, p, d)
		if err != nil {
			return nil, err
		}
		n := a.curveBytes()
		sig := make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
		return sig, nil
	}
	return nil, fmt.Errorf("key %s cannot sign with %s", k.KID, a)
}

// Verify checks sig over input with algorithm a; it returns [ErrSignature]
// when the signature does not match. Callers check [Key.CheckVerify] first.
func (k *Key) Verify(a Alg, input, sig []byte) error {
	switch a.Family() {
	case FamilyHMAC:
		if k.secret == nil {
			return ErrSignature
		}
		var buf [64]byte
		if !hmac.Equal(k.mac(a, input, buf[:0]), sig) {
			return ErrSignature
		}
		return nil
	case FamilyEd25519:
		p, ok := k.pub.(ed25519.PublicKey)
		if !ok || len(sig) != ed25519.SignatureSize || !ed25519.Verify(p, input, sig) {
			return ErrSignature
		}
		return nil
	}
	var buf [64]byte
	d := digest(a, input, buf[:0])
	switch p := k.pub.(type) {
	case *rsa.PublicKey:
		var err error
		if a.isPSS() {
			err = rsa.VerifyPSS(p, a.Hash(), d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(p, a.Hash(), d, sig)
		}
		if err != nil {
			return ErrSignature
		}
		return nil
	case *ecdsa.PublicKey:
		n := a.curveBytes()
		if len(sig) != 2*n {
			return ErrSignature
		}
		r := new(big.Int).SetBytes(sig[:n])
		s := new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(p, d, r, s) {
			return ErrSignature
		}
		return nil
	}
	return ErrSignature
}

func (k *Key) mac(a Alg, input, dst []byte) []byte {
	i := 0
	switch a {
	case HS384:
		i = 1
	case HS512:
		i = 2
	}
	pool := &k.hmacPools[i]
	h, _ := pool.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(a.Hash().New, k.secret)
	}
	h.Write(input)
	out := h.Sum(dst)
	h.Reset()
	pool.Put(h)
	return out
}

func digest(a Alg, input, dst []byte) []byte {
	switch a.Hash() {
	case crypto.SHA256:
		s := sha256.Sum256(input)
		return append(dst, s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(input)
		return append(dst, s[:]...)
	default:
		s := sha512.Sum512(input)
		return append(dst, s[:]...)
	}
}
