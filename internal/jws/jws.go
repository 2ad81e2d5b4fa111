package jws

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/token"
)

// MaxSize is the largest token accepted; anything longer is malformed
// without being parsed.
const MaxSize = 64 << 10

var b64 = base64.RawURLEncoding.Strict()

// b64Alphabet marks the base64url bytes. The standard decoder silently skips
// CR and LF, so every byte is checked here first.
var b64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// decodeSegment decodes canonical unpadded base64url: no padding, no
// characters outside the alphabet, no non-zero trailing bits.
func decodeSegment(seg []byte) ([]byte, error) {
	if len(seg)%4 == 1 {
		return nil, errors.New("invalid base64url length")
	}
	for _, c := range seg {
		if !b64Alphabet[c] {
			if c == '=' {
				return nil, errors.New("base64url padding is not allowed")
			}
			return nil, fmt.Errorf("invalid base64url character %q", c)
		}
	}
	out := make([]byte, b64.DecodedLen(len(seg)))
	n, err := b64.Decode(out, seg)
	if err != nil {
		return nil, errors.New("non-canonical base64url (non-zero trailing bits)")
	}
	return out[:n], nil
}

// parts is a token split into its segments, none decoded beyond the header.
type parts struct {
	signingInput []byte // header.payload
	payload      []byte // base64url
	sig          []byte // base64url
	header       token.Header
}

func split(raw string) (*parts, *token.Error) {
	if len(raw) > MaxSize {
		return nil, refuse(token.Malformed, "token is larger than %d bytes", MaxSize)
	}
	if raw == "" {
		return nil, refuse(token.Malformed, "token is empty")
	}
	d1 := strings.IndexByte(raw, '.')
	if d1 < 0 {
		return nil, refuse(token.Malformed, "token is not a JWS compact serialization (no '.')")
	}
	d2 := strings.IndexByte(raw[d1+1:], '.')
	if d2 < 0 {
		return nil, refuse(token.Malformed, "token has 2 parts, want 3")
	}
	d2 += d1 + 1
	if strings.IndexByte(raw[d2+1:], '.') >= 0 {
		n := strings.Count(raw, ".") + 1
		if n == 5 {
			return nil, refuse(token.Malformed, "token has 5 parts: an encrypted JWE is not supported")
		}
		return nil, refuse(token.Malformed, "token has %d parts, want 3", n)
	}
	// Read-only view of the token: nothing below writes to it.
	b := unsafe.Slice(unsafe.StringData(raw), len(raw))
	p := &parts{signingInput: b[:d2], payload: b[d1+1 : d2], sig: b[d2+1:]}
	hdr := b[:d1]
	if len(hdr) == 0 {
		return nil, refuse(token.Malformed, "header is empty")
	}
	for _, seg := range [][]byte{p.payload, p.sig} {
		for _, c := range seg {
			if !b64Alphabet[c] {
				return nil, refuse(token.Malformed, "invalid base64url character %q", c)
			}
		}
	}
	hj, err := decodeSegment(hdr)
	if err != nil {
		return nil, refuse(token.Malformed, "header: %v", err)
	}
	if err := parseHeader(hj, &p.header); err != nil {
		return nil, err
	}
	return p, nil
}

func parseHeader(data []byte, h *token.Header) *token.Error {
	var buf [8]strictjson.Member
	ms, err := strictjson.ParseObject(data, buf[:0])
	if err != nil {
		return refuse(token.Malformed, "header: %v", err)
	}
	h.Raw = data
	hasAlg := false
	for _, m := range ms {
		switch m.Name {
		case "alg":
			s, ok := strictjson.String(m.Value)
			if !ok {
				return refuse(token.Malformed, "header: alg is not a string")
			}
			h.Alg, hasAlg = s, true
		case "kid":
			s, ok := strictjson.String(m.Value)
			if !ok {
				return refuse(token.Malformed, "header: kid is not a string")
			}
			h.KID = s
		case "typ":
			s, ok := strictjson.String(m.Value)
			if !ok {
				return refuse(token.Malformed, "header: typ is not a string")
			}
			h.Typ = s
		case "crit":
			// RFC 7515 4.1.11: we understand no extension, so any crit
			// (even a malformed or empty one) makes the token unacceptable.
			return refuse(token.Malformed, "header: critical extensions are not supported (crit)")
		case "b64":
			if string(m.Value) != "true" {
				return refuse(token.Malformed, "header: unencoded payloads (b64) are not supported")
			}
		case "zip":
			return refuse(token.Malformed, "header: compressed payloads (zip) are not supported")
		case "enc":
			return refuse(token.Malformed, "header: encrypted JWE tokens are not supported")
		}
	}
	if !hasAlg {
		return refuse(token.Malformed, "header: alg is missing")
	}
	return nil
}

// refuse makes the verdict o with a human reason.
func refuse(o token.Outcome, format string, args ...any) *token.Error {
	return &token.Error{Outcome: o, Reason: fmt.Sprintf(format, args...)}
}

// appendHeader appends the base64url JOSE header for alg, kid and typ.
func appendHeader(dst []byte, alg keys.Alg, kid, typ string) []byte {
	var buf [256]byte
	j := append(buf[:0], `{"alg":`...)
	j = strictjson.AppendString(j, string(alg))
	if kid != "" {
		j = append(j, `,"kid":`...)
		j = strictjson.AppendString(j, kid)
	}
	if typ != "" {
		j = append(j, `,"typ":`...)
		j = strictjson.AppendString(j, typ)
	}
	j = append(j, '}')
	return b64.AppendEncode(dst, j)
}
