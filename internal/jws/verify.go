// Package jws signs and verifies JWTs in the JWS compact serialization
// (RFC 7515, 7518, 7519, 8037), strictly: canonical base64url only, strict
// JSON (no duplicate names, valid UTF-8), no critical extensions, the
// algorithm pinned to the key, and the signature checked before any claim.
// It reads into and writes from the model of the public package token.
package jws

import (
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/token"
)

// Sign makes a compact JWS over the claims c plus extra, a JSON object of
// custom claims already checked by [CompactCustom] (or nil). typ is the
// header's typ ("JWT" unless the profile says otherwise).
//
// Sign checks that k may sign with alg (the one key check of an
// issuance); a key that may not is a [*KeyError].
func Sign(k *keys.Key, alg keys.Alg, typ string, c *token.Claims, extra []byte) (string, error) {
	if err := k.CheckSign(alg); err != nil {
		return "", &KeyError{Err: err}
	}
	var cbuf [512]byte
	claims := appendClaims(cbuf[:0], c, extra)
	buf := make([]byte, 0, 96+len(k.KID)+b64.EncodedLen(len(claims))+b64.EncodedLen(132))
	buf = appendHeader(buf, alg, k.KID, typ)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, claims)
	sig, err := k.Sign(alg, buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	// buf is never written again, so the string may share it.
	return unsafe.String(unsafe.SliceData(buf), len(buf)), nil
}

// KeyError is a key that may not sign with the algorithm asked for (a
// public key, a key bound to another algorithm, one below the floors).
type KeyError struct{ Err error }

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// KeySource yields the keys that may have signed a token.
type KeySource interface {
	// Candidates returns the keys to try for a token whose header names kid
	// ("" when it names none). It must not return retired keys.
	Candidates(kid string) []*keys.Key
}

// Options is the verification policy. The zero value requires exp, allows no
// leeway and accepts any supported algorithm the key permits.
type Options struct {
	Now         time.Time     // zero means time.Now()
	Leeway      time.Duration // clock skew allowed on exp, nbf and iat
	Issuer      string        // required iss, if set
	Audience    string        // required member of aud, if set
	Algorithms  []keys.Alg    // accepted algorithms, if set
	ExpOptional bool          // accept tokens without exp
}

// Verify checks raw against the keys of src and the policy o. On refusal it
// returns a [*token.Error] and, when the header could be read, the partly
// filled token (claims are only filled once the signature matched).
//
// unverified holds the claims of a token refused before its signature
// matched, read from the payload without trusting them (for the audit
// record of a forgery: whom it claimed to be for), or nil when they could
// not be read; they are read once, from the same split.
func Verify(raw string, src KeySource, o *Options) (t *token.Token, unverified *token.Claims, err error) {
	p, e := split(raw)
	if e != nil {
		return nil, nil, e
	}
	t, err = verify(p, src, o)
	if err != nil && t.Key == nil {
		if payload, derr := decodeSegment(p.payload); derr == nil {
			var c token.Claims
			if parseClaims(payload, &c) == nil {
				unverified = &c
			}
		}
	}
	return t, unverified, err
}

func verify(p *parts, src KeySource, o *Options) (*token.Token, error) {
	t := &token.Token{Header: p.header}
	alg := keys.Alg(p.header.Alg)
	if !alg.Valid() {
		return t, refuse(token.UnsupportedAlg, "algorithm %q is not accepted", strictjson.Truncate(p.header.Alg))
	}
	if o.Algorithms != nil && !slices.Contains(o.Algorithms, alg) {
		return t, refuse(token.UnsupportedAlg, "algorithm %s is not among the accepted algorithms", alg)
	}
	cands := src.Candidates(p.header.KID)
	if len(cands) == 0 {
		if p.header.KID == "" {
			return t, refuse(token.UnknownKey, "token names no kid and no key is available")
		}
		return t, refuse(token.UnknownKey, "no key with kid %q", strictjson.Truncate(p.header.KID))
	}
	sig, err := decodeSegment(p.sig)
	if err != nil {
		return t, refuse(token.Malformed, "signature: %v", err)
	}
	var fitErr error
	tried := 0
	for _, k := range cands {
		if err := k.CheckVerify(alg); err != nil {
			if fitErr == nil {
				fitErr = err
			}
			continue
		}
		tried++
		if k.Verify(alg, p.signingInput, sig) == nil {
			t.Key = k
			break
		}
	}
	if t.Key == nil {
		if tried == 0 {
			return t, refuse(token.UnsupportedAlg, "%v", fitErr)
		}
		if tried == 1 {
			return t, refuse(token.InvalidSignature, "%s signature does not match the key", alg)
		}
		return t, refuse(token.InvalidSignature, "%s signature matches none of %d keys", alg, tried)
	}
	payload, err := decodeSegment(p.payload)
	if err != nil {
		return t, refuse(token.Malformed, "payload: %v", err)
	}
	if e := parseClaims(payload, &t.Claims); e != nil {
		return t, e
	}
	if e := validate(&t.Claims, o); e != nil {
		return t, e
	}
	return t, nil
}

func validate(c *token.Claims, o *Options) *token.Error {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case c.Expiry.IsZero():
		if !o.ExpOptional {
			return refuse(token.InvalidClaims, `claim "exp" is required`)
		}
	case !now.Before(c.Expiry.Add(o.Leeway)):
		return refuse(token.Expired, "token expired at %s (%s ago)", c.Expiry.Format(time.RFC3339), ago(now.Sub(c.Expiry)))
	}
	if !c.NotBefore.IsZero() && now.Add(o.Leeway).Before(c.NotBefore) {
		return refuse(token.NotYetValid, "token is not valid before %s", c.NotBefore.Format(time.RFC3339))
	}
	if !c.IssuedAt.IsZero() && now.Add(o.Leeway).Before(c.IssuedAt) {
		return refuse(token.NotYetValid, "token was issued in the future (%s)", c.IssuedAt.Format(time.RFC3339))
	}
	if o.Issuer != "" && c.Issuer != o.Issuer {
		if c.Issuer == "" {
			return refuse(token.InvalidClaims, "issuer %q required, token has no iss", strictjson.Truncate(o.Issuer))
		}
		return refuse(token.InvalidClaims, "issuer %q is not the expected %q", strictjson.Truncate(c.Issuer), strictjson.Truncate(o.Issuer))
	}
	if o.Audience != "" && !slices.Contains(c.Audience, o.Audience) {
		return refuse(token.InvalidClaims, "audience %q is not in the token's aud", strictjson.Truncate(o.Audience))
	}
	return nil
}

// ago renders how long ago something was, in days past two days.
func ago(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

// Decode reads a token's header and claims without verifying anything. Its
// result must not be trusted; it serves inspection only.
func Decode(raw string) (*token.Token, error) {
	p, e := split(raw)
	if e != nil {
		return nil, e
	}
	t := &token.Token{Header: p.header}
	payload, err := decodeSegment(p.payload)
	if err != nil {
		return t, refuse(token.Malformed, "payload: %v", err)
	}
	if e := parseClaims(payload, &t.Claims); e != nil {
		return t, e
	}
	return t, nil
}
