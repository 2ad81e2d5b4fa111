package jwtledger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

// Issue a token, verify it, and read what the ledger recorded.
func Example() {
	dir, _ := os.MkdirTemp("", "jwtledger-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	issued, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice", Audience: []string{"api"}, TTL: 15 * time.Minute})
	if err != nil {
		log.Fatal(err) // no token without its audit record
	}
	tok, err := l.Verify(ctx, issued.Token, jwtledger.WithAudience("api"))
	fmt.Println(token.OutcomeOf(err), tok.Claims.Subject, issued.Alg)

	_, err = l.Verify(ctx, issued.Token, jwtledger.WithAudience("billing"))
	fmt.Println(token.OutcomeOf(err), errors.Is(err, token.ErrInvalidClaims))

	recs, _ := l.Trail().Query(ctx, trail.Filter{Event: "token.verify"})
	for _, r := range recs {
		fmt.Println(r.Seq, r.Event, r.Outcome, r.Sub)
	}
	// Output:
	// valid alice ES256
	// invalid_claims true
	// 3 token.verify valid alice
	// 4 token.verify invalid_claims alice
}

// Verify a token against keys from a file instead of the managed keys.
func ExampleWithKeys() {
	dir, _ := os.MkdirTemp("", "jwtledger-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off"})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	// A JWK (RFC 7515 A.3's key) and a token it signed in 2011.
	ks, err := keys.Parse([]byte(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	if err != nil {
		log.Fatal(err)
	}
	const rfc = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	at := func() time.Time { return time.Unix(1300819300, 0) } // before exp
	tok, err := l.Verify(ctx, rfc, jwtledger.WithKeys(ks...), jwtledger.WithTimeFunc(at))
	fmt.Println(token.OutcomeOf(err), tok.Claims.Issuer)
	_, err = l.Verify(ctx, rfc, jwtledger.WithKeys(ks...))
	fmt.Println(token.OutcomeOf(err))
	// Output:
	// valid joe
	// expired
}
