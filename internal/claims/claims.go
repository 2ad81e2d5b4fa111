// Package claims reads the claims an issuance request gives beside its
// fields, once: the registered ones (sub, aud, nbf, exp, iss, iat, jti)
// are taken into the fields under the ledger's rules (never silently
// overridden), the custom ones are kept as compact JSON values and encoded
// into the token's payload in one pass.
package claims

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jwtledger/jwtledger/internal/jws"
	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/token"
)

// Fields are the registered claims a request can give as fields.
type Fields struct {
	Subject   string
	Audience  []string
	TTL       time.Duration
	Expiry    time.Time
	NotBefore time.Time
	// IssuedAt is set by Split when a given iat equals the ledger's clock.
	IssuedAt time.Time
}

// Split merges given and givenJSON (which wins; read strictly: one
// object, no duplicate names), moves the registered claims among them into
// f, and returns the custom ones (compact JSON values by name) with their
// names sorted. now is the ledger's clock and issuer its issuer (a given
// iss must equal it). The error says what is wrong in words a caller can
// show.
func Split(now time.Time, issuer string, f *Fields, given map[string]any, givenJSON []byte) (custom map[string]json.RawMessage, names []string, err error) {
	if len(given) == 0 && len(givenJSON) == 0 {
		return nil, nil, nil
	}
	merged, err := merge(given, givenJSON)
	if err != nil {
		return nil, nil, err
	}
	var reg []byte // the registered members, as one object
	for _, name := range jws.Registered {
		if v, ok := merged[name]; ok {
			if len(reg) == 0 {
				reg = append(reg, '{')
			} else {
				reg = append(reg, ',')
			}
			reg = append(strictjson.AppendString(reg, name), ':')
			reg = append(reg, v...)
		}
	}
	if len(reg) > 0 {
		c, err := jws.ParseClaims(append(reg, '}'))
		if err != nil {
			return nil, nil, err
		}
		if err := takeRegistered(now, issuer, f, merged, c); err != nil {
			return nil, nil, err
		}
		for _, name := range jws.Registered {
			delete(merged, name)
		}
	}
	if len(merged) == 0 {
		return nil, nil, nil
	}
	names = make([]string, 0, len(merged))
	for name := range merged {
		names = append(names, name)
	}
	slices.Sort(names) // the order json.Marshal gives a map
	return merged, names, nil
}

// Encode is the compact JSON object of the custom claims, members in the
// order of names (nil when there are none).
func Encode(custom map[string]json.RawMessage, names []string) []byte {
	if len(names) == 0 {
		return nil
	}
	size := 2
	for _, name := range names {
		size += len(name) + len(custom[name]) + 4
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, name := range names {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(strictjson.AppendString(out, name), ':')
		out = append(out, custom[name]...)
	}
	return htmlEscaped(append(out, '}'))
}

// htmlEscaped escapes <, >, & and U+2028/U+2029 in a JSON text as
// json.Marshal does (the custom claims of tokens always were).
func htmlEscaped(b []byte) []byte {
	if !bytes.ContainsAny(b, "<>&\u2028\u2029") {
		return b
	}
	var buf bytes.Buffer
	json.HTMLEscape(&buf, b)
	return buf.Bytes()
}

// takeRegistered moves the registered claims given (the members of merged
// that are registered, read into given) into f.
func takeRegistered(now time.Time, issuer string, f *Fields, merged map[string]json.RawMessage, given *token.Claims) error {
	has := func(name string) bool { _, ok := merged[name]; return ok }
	if has("sub") {
		if f.Subject != "" && f.Subject != given.Subject {
			return fmt.Errorf("the subject is given twice, as %q and as claim \"sub\" %q", f.Subject, given.Subject)
		}
		f.Subject = given.Subject
	}
	if has("aud") {
		if len(f.Audience) > 0 && !slices.Equal(f.Audience, given.Audience) {
			return fmt.Errorf("the audience is given twice, as %q and as claim \"aud\" %q", f.Audience, given.Audience)
		}
		f.Audience = given.Audience
	}
	if has("nbf") {
		if !f.NotBefore.IsZero() && !f.NotBefore.Equal(given.NotBefore) {
			return fmt.Errorf("not-before is given twice, as %s and as claim \"nbf\" %s", f.NotBefore.UTC().Format(time.RFC3339), given.NotBefore.UTC().Format(time.RFC3339))
		}
		f.NotBefore = given.NotBefore
	}
	if has("exp") {
		switch {
		case f.TTL != 0:
			return fmt.Errorf("claim \"exp\" and a lifetime (%s) are both given; give one", f.TTL)
		case !f.Expiry.IsZero() && !f.Expiry.Equal(given.Expiry):
			return fmt.Errorf("the expiry is given twice, as %s and as claim \"exp\" %s", f.Expiry.UTC().Format(time.RFC3339), given.Expiry.UTC().Format(time.RFC3339))
		}
		f.Expiry = given.Expiry
	}
	if has("iss") && given.Issuer != issuer {
		return fmt.Errorf("claim \"iss\" is %q, but this ledger's issuer is %q", given.Issuer, issuer)
	}
	if has("iat") {
		if given.IssuedAt.Unix() != now.Unix() || given.IssuedAt.Nanosecond() != 0 {
			return fmt.Errorf("claim \"iat\" is set by the ledger (now: %d); the given %s differs (leave it out)", now.Unix(), merged["iat"])
		}
		f.IssuedAt = given.IssuedAt
	}
	if has("jti") {
		return fmt.Errorf("claim \"jti\" is set by the ledger (a random id); a given jti (%s) is refused", merged["jti"])
	}
	return nil
}

// merge merges given and givenJSON (which wins) into one map of JSON
// values; givenJSON is read strictly (one object, no duplicate names).
func merge(given map[string]any, givenJSON []byte) (map[string]json.RawMessage, error) {
	merged := make(map[string]json.RawMessage, len(given))
	for name, v := range given {
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("claim %q: %v", name, err)
		}
		merged[name] = j
	}
	if len(givenJSON) > 0 {
		ms, err := strictjson.ParseObject(givenJSON, nil)
		if err != nil {
			return nil, fmt.Errorf("claims: %v", err)
		}
		for _, m := range ms {
			merged[m.Name] = json.RawMessage(strictjson.Compact(nil, m.Value))
		}
	}
	return merged, nil
}
