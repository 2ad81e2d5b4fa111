package jws

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/token"
)

// MaxNumericDate is the latest date a token may carry (9999-12-31T23:59:59Z).
const MaxNumericDate = 253402300799

// Registered lists the registered claim names of RFC 7519 that jwtledger sets
// itself; custom claims may not override them.
var Registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// IsRegistered reports whether name is one of [Registered].
func IsRegistered(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti":
		return true
	}
	return false
}

// appendClaims encodes c followed by the members of extra, a JSON object
// already validated by [CompactCustom] (or nil).
func appendClaims(dst []byte, c *token.Claims, extra []byte) []byte {
	dst = append(dst, '{')
	sep := func() {
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
	}
	if c.Issuer != "" {
		sep()
		dst = strictjson.AppendString(append(dst, `"iss":`...), c.Issuer)
	}
	if c.Subject != "" {
		sep()
		dst = strictjson.AppendString(append(dst, `"sub":`...), c.Subject)
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		sep()
		dst = strictjson.AppendString(append(dst, `"aud":`...), c.Audience[0])
	default:
		sep()
		dst = append(dst, `"aud":[`...)
		for i, a := range c.Audience {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strictjson.AppendString(dst, a)
		}
		dst = append(dst, ']')
	}
	for _, t := range []struct {
		name string
		v    time.Time
	}{{`"exp":`, c.Expiry}, {`"nbf":`, c.NotBefore}, {`"iat":`, c.IssuedAt}} {
		if !t.v.IsZero() {
			sep()
			dst = strconv.AppendInt(append(dst, t.name...), t.v.Unix(), 10)
		}
	}
	if c.ID != "" {
		sep()
		dst = strictjson.AppendString(append(dst, `"jti":`...), c.ID)
	}
	if len(extra) > 2 {
		sep()
		dst = append(dst, extra[1:len(extra)-1]...)
	}
	return append(dst, '}')
}

// CheckStrings refuses registered string claims of c that are not valid
// UTF-8 (before [Sign], which writes them as they are).
func CheckStrings(c *token.Claims) error {
	for _, f := range [...]struct{ name, v string }{{"iss", c.Issuer}, {"sub", c.Subject}, {"jti", c.ID}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("claim %q is not valid UTF-8", f.name)
		}
	}
	for _, a := range c.Audience {
		if !utf8.ValidString(a) {
			return errors.New(`claim "aud" is not valid UTF-8`)
		}
	}
	return nil
}

// CompactCustom validates a JSON object of custom claims and returns it
// compacted. Registered claim names are refused, never silently overridden.
func CompactCustom(obj []byte) ([]byte, error) {
	ms, err := strictjson.ParseObject(obj, nil)
	if err != nil {
		return nil, fmt.Errorf("custom claims: %w", err)
	}
	out := make([]byte, 0, len(obj))
	out = append(out, '{')
	for i, m := range ms {
		if IsRegistered(m.Name) {
			return nil, fmt.Errorf("claim %q is a registered claim and cannot be set as a custom claim", m.Name)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = strictjson.AppendString(out, m.Name)
		out = append(out, ':')
		out = strictjson.Compact(out, m.Value)
	}
	return append(out, '}'), nil
}

// ParseClaims reads the registered claims of a JSON object of claims with
// the rules of verification (the other members are left alone); the error
// says which claim is wrong.
func ParseClaims(obj []byte) (*token.Claims, error) {
	var c token.Claims
	if err := parseClaims(obj, &c); err != nil {
		return nil, errors.New(err.Reason)
	}
	return &c, nil
}

// parseClaims reads the registered claims of a verified payload.
func parseClaims(payload []byte, c *token.Claims) *token.Error {
	var buf [16]strictjson.Member
	ms, err := strictjson.ParseObject(payload, buf[:0])
	if err != nil {
		return refuse(token.Malformed, "claims: %v", err)
	}
	c.Raw = payload
	for _, m := range ms {
		switch m.Name {
		case "iss", "sub", "jti":
			s, ok := strictjson.String(m.Value)
			if !ok {
				return refuse(token.InvalidClaims, "claim %q is not a string", m.Name)
			}
			switch m.Name {
			case "iss":
				c.Issuer = s
			case "sub":
				c.Subject = s
			default:
				c.ID = s
			}
		case "aud":
			aud, e := parseAudience(m.Value)
			if e != nil {
				return e
			}
			c.Audience = aud
		case "exp", "nbf", "iat":
			t, e := parseNumericDate(m.Name, m.Value)
			if e != nil {
				return e
			}
			switch m.Name {
			case "exp":
				c.Expiry = t
			case "nbf":
				c.NotBefore = t
			default:
				c.IssuedAt = t
			}
		}
	}
	return nil
}

func parseAudience(v []byte) ([]string, *token.Error) {
	if s, ok := strictjson.String(v); ok {
		return []string{s}, nil
	}
	if v[0] != '[' {
		return nil, refuse(token.InvalidClaims, `claim "aud" is neither a string nor an array of strings`)
	}
	out, ok := strictjson.Strings(v)
	if !ok {
		return nil, refuse(token.InvalidClaims, `claim "aud" holds a value that is not a string`)
	}
	return out, nil
}

func parseNumericDate(name string, v []byte) (time.Time, *token.Error) {
	if c := v[0]; c != '-' && (c < '0' || c > '9') {
		return time.Time{}, refuse(token.InvalidClaims, "claim %q is not a number", name)
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > MaxNumericDate {
		return time.Time{}, refuse(token.InvalidClaims, "claim %q is out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
