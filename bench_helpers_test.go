package jwtledger

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/jwtledger/jwtledger/internal/keys"
)

var b64 = base64.RawURLEncoding

func hmacSecret(b *testing.B, k *keys.Key) []byte {
	j, err := k.UnsafeExportPrivateJWK()
	if err != nil {
		b.Fatal(err)
	}
	var m struct{ K string }
	json.Unmarshal(j, &m)
	s, err := b64.DecodeString(m.K)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func privateOf(b *testing.B, p []byte) any {
	block, _ := pem.Decode(p)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
