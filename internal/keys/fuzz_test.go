package keys_test

import (
	"testing"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// FuzzParse feeds arbitrary bytes to the key parser: no panic, and every key
// it returns has a kid and a family, and refuses weak sizes.
func FuzzParse(f *testing.F) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.HS256} {
		k, err := keys.Generate(alg)
		if err != nil {
			f.Fatal(err)
		}
		j, _ := k.UnsafeExportPrivateJWK()
		f.Add(j)
		if p, err := k.UnsafeExportPrivatePEM(); err == nil {
			f.Add(p)
		}
		if p, err := k.PublicPEM(); err == nil {
			f.Add(p)
		}
	}
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := keys.Parse(data)
		if err != nil {
			return
		}
		for _, k := range ks {
			if k.KID == "" || k.Family() == keys.FamilyNone {
				t.Fatalf("key without kid or family: %v", k)
			}
			if k.Family() == keys.FamilyRSA && k.Bits() < keys.MinRSABits {
				t.Fatalf("weak RSA key accepted: %d bits", k.Bits())
			}
			if k.Family() == keys.FamilyHMAC && k.Bits() < 256 && k.Alg == "" {
				t.Fatalf("short HMAC key accepted: %d bits", k.Bits())
			}
		}
	})
}
