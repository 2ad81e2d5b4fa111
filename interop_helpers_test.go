package jwtledger_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/jwtledger/jwtledger/keys"
)

func mustParsePrivatePEM(t *testing.T, p []byte) any {
	t.Helper()
	block, _ := pem.Decode(p)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hmacSecretOf(t *testing.T, k *keys.Key) []byte {
	t.Helper()
	j, err := k.UnsafeExportPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ K string }
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	s, err := base64.RawURLEncoding.DecodeString(m.K)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
