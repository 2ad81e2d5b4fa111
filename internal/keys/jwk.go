package keys

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Thumbprint computes the RFC 7638 SHA-256 thumbprint of k, base64url encoded.
func Thumbprint(k *Key) (string, error) {
	if k.secret != nil {
		// RFC 7638 section 3.2: the required members of an "oct" key, in
		// lexicographic order, without white space.
		sum := sha256.Sum256([]byte(`{"k":"` + base64.RawURLEncoding.EncodeToString(k.secret) + `","kty":"oct"}`))
		return base64.RawURLEncoding.EncodeToString(sum[:]), nil
	}
	jwk := jose.JSONWebKey{Key: k.pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// PublicJWK returns the public JWK of k with kid, alg and use. HMAC keys have
// no public form and return an error.
func (k *Key) PublicJWK() (json.RawMessage, error) {
	if k.secret != nil {
		return nil, errors.New("HMAC keys have no public form")
	}
	return json.Marshal(jose.JSONWebKey{Key: k.pub, KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
}

// UnsafeExportPrivateJWK returns the private JWK of k. The result holds
// secret material: never log it.
func (k *Key) UnsafeExportPrivateJWK() ([]byte, error) {
	if !k.IsPrivate() {
		return nil, errors.New("not a private key")
	}
	return json.Marshal(jose.JSONWebKey{Key: k.material(), KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
}

// UnsafeExportPrivatePEM returns k as a PKCS#8 PEM block. The result holds
// secret material: never log it.
func (k *Key) UnsafeExportPrivatePEM() ([]byte, error) {
	if k.secret != nil {
		return nil, errors.New("HMAC secrets have no PEM form; export as JWK")
	}
	if k.priv == nil {
		return nil, errors.New("not a private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicPEM returns the PKIX public key as PEM.
func (k *Key) PublicPEM() ([]byte, error) {
	if k.pub == nil {
		return nil, errors.New("HMAC keys have no public form")
	}
	der, err := x509.MarshalPKIXPublicKey(k.pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// JWKS renders the public keys among ks as a JSON Web Key Set. HMAC keys are
// never published.
func JWKS(ks []*Key) ([]byte, error) {
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, k := range ks {
		if k.secret != nil {
			continue
		}
		j, err := k.PublicJWK()
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	return json.MarshalIndent(set, "", "  ")
}
