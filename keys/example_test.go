package keys_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/jwtledger/jwtledger/keys"
)

// Read a JWK (RFC 7515 A.3's public key): its kid is its RFC 7638
// thumbprint, and its curve binds it to ES256.
func ExampleParse() {
	ks, err := keys.Parse([]byte(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(ks), ks[0].KID, ks[0].DefaultAlg(), ks[0].IsPrivate())
	// Output: 1 oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U ES256 false
}

// Make a key outside any ledger, for a program that signs tokens itself
// or imports it into a ledger with Ledger.ImportKey.
func ExampleGenerate() {
	alg, err := keys.ParseAlg("EdDSA")
	if err != nil {
		log.Fatal(err)
	}
	k, err := keys.Generate(alg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Alg, k.IsPrivate(), k.KID != "")
	// Output: EdDSA true true
}

// Two key files that carry the same kid are refused together.
func ExampleCheckUniqueKIDs() {
	a, _ := keys.Parse([]byte(`{"kty":"oct","kid":"k1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0"}`))
	b, _ := keys.Parse([]byte(`{"kty":"oct","kid":"k1","k":"b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci0xMjM0NTY"}`))
	err := keys.CheckUniqueKIDs(append(a, b...))
	fmt.Println(errors.Is(err, keys.ErrDuplicateKID))
	// Output: true
}
