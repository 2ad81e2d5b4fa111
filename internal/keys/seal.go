package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// MasterKeySize is the size of the key that encrypts private keys at rest.
const MasterKeySize = 32

const sealVersion = 1

// Seal encrypts a private key for storage with AES-256-GCM under master,
// binding it to kid so a sealed blob cannot be moved to another key's row.
func Seal(master []byte, k *Key) ([]byte, error) {
	plain, err := k.UnsafeExportPrivateJWK()
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	out = aead.Seal(out, nonce, plain, []byte(k.KID))
	clear(plain)
	return out, nil
}

// SealBytes encrypts any secret for storage with AES-256-GCM under master,
// bound to aad.
func SealBytes(master, aad, plain []byte) ([]byte, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, aad), nil
}

// OpenBytes decrypts a blob made by [SealBytes] with the same aad.
func OpenBytes(master, aad, blob []byte) ([]byte, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	if len(blob) < 1+aead.NonceSize()+aead.Overhead() || blob[0] != sealVersion {
		return nil, errors.New("sealed secret: unknown format")
	}
	plain, err := aead.Open(nil, blob[1:1+aead.NonceSize()], blob[1+aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("sealed secret: cannot decrypt (wrong master key?)")
	}
	return plain, nil
}

// Unseal decrypts a blob made by [Seal] and parses the key inside.
func Unseal(master []byte, kid string, blob []byte) (*Key, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	if len(blob) < 1+aead.NonceSize()+aead.Overhead() || blob[0] != sealVersion {
		return nil, fmt.Errorf("sealed key %s: unknown format", kid)
	}
	nonce := blob[1 : 1+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, blob[1+aead.NonceSize():], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("sealed key %s: cannot decrypt (wrong master key?)", kid)
	}
	defer clear(plain)
	ks, err := Parse(plain)
	if err != nil {
		return nil, fmt.Errorf("sealed key %s: %w", kid, err)
	}
	if len(ks) != 1 || ks[0].KID != kid {
		return nil, fmt.Errorf("sealed key %s: content does not match its kid", kid)
	}
	return ks[0], nil
}

func newAEAD(master []byte) (cipher.AEAD, error) {
	if len(master) != MasterKeySize {
		return nil, errors.New("master key must be 32 bytes")
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
