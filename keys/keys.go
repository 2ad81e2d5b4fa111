// Package keys names, makes and reads the keys a user brings to
// jwtledger or makes for it: an [Alg] names a JWS algorithm, a [Key] is
// key material bound to one, and a [State] is where a managed key is in
// its life (only an active key signs; verify-only keys still verify;
// retired keys are kept for the record only).
//
// A ledger manages its own keys (Ledger.RotateKey, Ledger.ImportKey); the
// keys of this package are what goes in: [Generate] makes one outside any
// ledger, [Parse] reads PEM, a JWK or a JWKS, [NewHMAC] wraps a raw
// secret. Every key is held to the ledger's floors (RSA of at least 2048
// bits without the ROCA weakness, HMAC secrets as long as their hash,
// "none" never). How a ledger seals its keys at rest is not part of this
// package.
package keys

import "github.com/jwtledger/jwtledger/internal/keys"

// Alg is a JWS algorithm name: HS256, HS384, HS512, RS256, RS384, RS512,
// PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA ("none" is none of
// them). Valid reports whether it is one of them.
type Alg = keys.Alg

// Key is a signing or verification key bound to one algorithm. What a user
// reads of it:
//
//   - KID: the kid of its JWK, or its RFC 7638 thumbprint;
//   - Alg: the algorithm it is used with; empty only for an RSA or HMAC key
//     given without one, which then verifies any algorithm of its family
//     its size permits (DefaultAlg is the one it signs with);
//   - IsPrivate: whether it can sign; Public: the crypto.PublicKey (nil
//     for HMAC);
//   - PublicJWK and PublicPEM: its public forms (none for HMAC);
//     UnsafeExportPrivateJWK and UnsafeExportPrivatePEM: its private
//     forms, secret material never to be logged.
//
// A Key prints (fmt, log/slog) its public identity only.
type Key = keys.Key

// State is the lifecycle state of a managed key.
type State = keys.State

// Key states.
const (
	Active     = keys.Active
	VerifyOnly = keys.VerifyOnly
	Retired    = keys.Retired
)

// ParseAlg parses an algorithm name; "none" is refused.
func ParseAlg(s string) (Alg, error) { return keys.ParseAlg(s) }

// Parse reads keys from PEM, a JWK or a JWKS; a JWKS in which two keys
// have the same kid is refused with [ErrDuplicateKID].
func Parse(data []byte) ([]*Key, error) { return keys.Parse(data) }

// NewHMAC wraps a raw HMAC secret for alg (HS256, HS384 or HS512; empty
// for any the secret's length permits).
func NewHMAC(secret []byte, alg Alg) (*Key, error) { return keys.NewHMAC(secret, alg) }

// Generate makes a new key for alg, outside any ledger, with its
// thumbprint as kid.
func Generate(alg Alg) (*Key, error) { return keys.Generate(alg) }

// CheckUniqueKIDs refuses keys among which two carry the same kid of their
// own (from a JWK): check keys from several sources with it before
// passing them to a ledger's Verify; [Parse] already refuses such a JWKS.
func CheckUniqueKIDs(ks []*Key) error { return keys.CheckUniqueKIDs(ks) }

// ErrDuplicateKID refuses a key set in which two keys have the same kid.
var ErrDuplicateKID = keys.ErrDuplicateKID

// ErrROCA refuses an RSA key with the ROCA weakness (CVE-2017-15361).
var ErrROCA = keys.ErrROCA
