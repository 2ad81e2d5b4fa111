package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// RSABits is the modulus size of generated RSA keys.
const RSABits = 2048

// Generate creates a new key bound to alg, with its thumbprint as kid.
// HMAC secrets are as long as the algorithm's hash.
func Generate(alg Alg) (*Key, error) {
	var material any
	var err error
	switch alg.Family() {
	case FamilyHMAC:
		secret := make([]byte, alg.Hash().Size())
		rand.Read(secret)
		material = secret
	case FamilyRSA:
		material, err = rsa.GenerateKey(rand.Reader, RSABits)
	case FamilyEC:
		material, err = ecdsa.GenerateKey(curveOf(alg), rand.Reader)
	case FamilyEd25519:
		_, material, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("cannot generate a key for algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	k, err := newKey(material, alg, "")
	if err != nil {
		return nil, err
	}
	k.NamedKID = true
	return k, nil
}
