package auditor

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// AlgCosignatureV1 is the signed-note signature type of C2SP
// tlog-cosignature's timestamped Ed25519 cosignatures (cosignature/v1).
const AlgCosignatureV1 = 0x04

// maxTimestamp is the last second of year 9999. The spec allows
// timestamps up to 2^63-1 and lets verifiers refuse future ones; a
// cosignature dated after year 9999 is refused here, so that every accepted
// timestamp is a [time.Time].
const maxTimestamp = 253402300799

// cosignatureSize is the length of a cosignature/v1 signature after the
// 4-byte key hash: an 8-byte timestamp and an Ed25519 signature.
const cosignatureSize = 8 + ed25519.SignatureSize

// A CosignatureVerifier checks a witness's C2SP tlog-cosignature
// (cosignature/v1, timestamped Ed25519) signatures. It is a
// [note.Verifier], so it can be given to [note.Open] with
// [note.VerifierList].
type CosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

var _ note.Verifier = (*CosignatureVerifier)(nil)

// NewCosignatureVerifier parses a witness verifier key: the witness name,
// "+", the key hash as 8 lowercase hex digits, "+", and the base64 of the
// byte 0x04 followed by the 32-byte Ed25519 public key. The key hash must
// be SHA-256(name || "\n" || 0x04 || public key)[:4], as the spec says.
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, malformed("witness key is not NAME+HASH+KEY")
	}
	if !validName(name) {
		return nil, malformed("witness key name %q is empty or has spaces or '+'", name)
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil || len(hash16) != 8 || strings.ToLower(hash16) != hash16 {
		return nil, malformed("witness key hash %q is not 8 lowercase hex digits", hash16)
	}
	key, err := decodeCanonical(key64)
	if err != nil {
		return nil, malformed("witness key %q is not canonical base64", name)
	}
	if len(key) == 0 || key[0] != AlgCosignatureV1 {
		hint := ""
		if len(key) > 0 && key[0] == 1 {
			hint = " (this is a plain Ed25519 note key, as a log signs with, not a witness cosignature key)"
		}
		return nil, malformed("witness key %q is not of type 0x04 (cosignature/v1)%s", name, hint)
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, malformed("witness key %q: want a %d-byte Ed25519 public key", name, ed25519.PublicKeySize)
	}
	v := &CosignatureVerifier{name: name, key: ed25519.PublicKey(key[1:])}
	v.hash = cosignatureKeyHash(name, v.key)
	if uint32(hash) != v.hash {
		return nil, malformed("witness key %q: key hash %s does not match the key (want %08x)", name, hash16, v.hash)
	}
	return v, nil
}

// NewCosignatureVerifierKey returns the witness verifier key of an Ed25519
// public key used for cosignature/v1 under name.
func NewCosignatureVerifierKey(name string, key ed25519.PublicKey) (string, error) {
	if !validName(name) {
		return "", malformed("witness name %q is empty or has spaces or '+'", name)
	}
	if len(key) != ed25519.PublicKeySize {
		return "", malformed("want a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	return formatVerifierKey(name, cosignatureKeyHash(name, key), key), nil
}

func formatVerifierKey(name string, hash uint32, key ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{AlgCosignatureV1}, key...)))
}

func cosignatureKeyHash(name string, key ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{AlgCosignatureV1})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Name returns the witness name, the key name of its signature lines.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash returns the key hash of the witness key.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// PublicKey returns the witness's Ed25519 public key.
func (v *CosignatureVerifier) PublicKey() ed25519.PublicKey { return v.key }

// String returns the witness verifier key, as [NewCosignatureVerifier]
// parses it.
func (v *CosignatureVerifier) String() string { return formatVerifierKey(v.name, v.hash, v.key) }

// Verify reports whether sig (the signature bytes after the key hash) is a
// valid cosignature/v1 of the checkpoint text msg. A text that is not a
// checkpoint has no valid cosignature, and neither has a timestamp after
// year 9999.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > maxTimestamp {
		return false
	}
	m, err := CosignatureMessage(string(msg), int64(t))
	if err != nil {
		return false
	}
	return ed25519.Verify(v.key, m, sig[8:])
}

// CosignatureMessage returns the message a cosignature/v1 signs for the
// checkpoint text at a POSIX timestamp: "cosignature/v1\n", "time T\n",
// then the checkpoint text. It refuses a text that is not a checkpoint
// and a negative timestamp.
func CosignatureMessage(checkpoint string, timestamp int64) ([]byte, error) {
	if timestamp < 0 {
		return nil, malformed("negative cosignature timestamp")
	}
	if _, err := ParseCheckpoint(checkpoint); err != nil {
		return nil, err
	}
	m := make([]byte, 0, 40+len(checkpoint))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendInt(m, timestamp, 10)
	m = append(m, '\n')
	return append(m, checkpoint...), nil
}

// CosignatureTime returns the time at which a witness made a cosignature
// (the timestamp inside a cosignature/v1 signature line), to the second.
// It does not verify the signature, and refuses a time after year 9999.
func CosignatureTime(sig note.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(raw) != 4+cosignatureSize {
		return time.Time{}, malformed("signature of %q is not a cosignature/v1", sig.Name)
	}
	t := binary.BigEndian.Uint64(raw[4:])
	if t > maxTimestamp {
		return time.Time{}, malformed("cosignature of %q is dated after year 9999", sig.Name)
	}
	return time.Unix(int64(t), 0).UTC(), nil
}
