// Package token is the model of a JWT as jwtledger reads it: the [Token]
// that [github.com/jwtledger/jwtledger.Ledger.Verify] returns, its [Header]
// and registered [Claims], and the verdict of a verification, one
// [Outcome] with a human reason ([Error]) and a sentinel per refusal for
// errors.Is:
//
//	tok, err := l.Verify(ctx, raw)
//	switch {
//	case err == nil: // valid: tok.Claims, tok.Header, tok.Key
//	case errors.Is(err, token.ErrExpired): ...
//	default:
//		fmt.Println(token.OutcomeOf(err)) // "invalid_signature", ...
//	}
//
// The codec that reads and writes tokens is the ledger's own and is not
// part of this package.
package token

import (
	"time"

	"github.com/jwtledger/jwtledger/keys"
)

// Token is a parsed token. On a verified token Key is the key that matched;
// on a refused one, Header is filled once the header could be read and
// Claims only once the signature matched.
type Token struct {
	Header Header
	Claims Claims
	Key    *keys.Key
}

// Header is a parsed JOSE header.
type Header struct {
	Alg string // as written in the token; may be unsupported
	KID string
	Typ string
	Raw []byte // the header JSON
}

// Claims are the registered claims of a token. Times are zero when absent.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	ID        string

	// Raw is the whole claims set as JSON: on a parsed token the payload as
	// received; when a token is signed it is ignored.
	Raw []byte
}
