package witness

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/auditor"
)

// A Signer makes C2SP tlog-cosignature cosignature/v1 signatures with a
// witness's Ed25519 key.
type Signer struct {
	priv     ed25519.PrivateKey
	verifier *auditor.CosignatureVerifier
}

// NewSigner returns the signer of the witness called name with key priv.
func NewSigner(name string, priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("witness key: not an Ed25519 private key")
	}
	vkey, err := auditor.NewCosignatureVerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	v, err := auditor.NewCosignatureVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &Signer{priv: priv, verifier: v}, nil
}

// Verifier returns the verifier of the signer's cosignatures; its String
// is the witness verifier key.
func (s *Signer) Verifier() *auditor.CosignatureVerifier { return s.verifier }

// Cosign returns the signature line ("— name base64", ending in a newline)
// of a cosignature of the checkpoint text made at time t (to the second).
func (s *Signer) Cosign(checkpoint string, t time.Time) (note.Signature, error) {
	msg, err := auditor.CosignatureMessage(checkpoint, t.Unix())
	if err != nil {
		return note.Signature{}, err
	}
	sig := make([]byte, 0, 4+8+ed25519.SignatureSize)
	sig = binary.BigEndian.AppendUint32(sig, s.verifier.KeyHash())
	sig = binary.BigEndian.AppendUint64(sig, uint64(t.Unix()))
	sig = append(sig, ed25519.Sign(s.priv, msg)...)
	return note.Signature{Name: s.verifier.Name(), Hash: s.verifier.KeyHash(), Base64: base64.StdEncoding.EncodeToString(sig)}, nil
}

// LogValue keeps the private key out of logs.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.verifier.String()) }
