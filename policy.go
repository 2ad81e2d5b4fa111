package jwtledger

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/strictjson"
)

// RequestError is a request the ledger refuses as invalid: errors.Is(err,
// ErrInvalidRequest) holds for it, and Detail says what is wrong in words
// a caller can show (no secret, no token).
type RequestError struct {
	Detail string
	Err    error // the cause, if any
}

func (e *RequestError) Error() string { return ErrInvalidRequest.Error() + ": " + e.Detail }

// Is makes a RequestError match [ErrInvalidRequest].
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

func (e *RequestError) Unwrap() error { return e.Err }

// invalidf is a [*RequestError]; a %w in format is its cause.
func invalidf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &RequestError{Detail: err.Error(), Err: errors.Unwrap(err)}
}

// PolicyError is an issuance refused by the policy of the client it was
// made for ([IssueRequest].Client); the refusal is recorded as auth.denied
// (no token.issue record is written). Rule is what was refused:
// "audience", "lifetime", "claim" or "scope"; Detail says it in words the
// client can be shown.
type PolicyError struct {
	Rule   string
	Detail string
	reason string // the auth.denied record's reason
}

func (e *PolicyError) Error() string { return "refused by the client's policy: " + e.Detail }

// applyPolicy applies the policy of req.Client to req (after prepare, so
// registered claims given among the claims are req's fields), with names
// the custom claims' names: the default audience and lifetime are filled
// in, and what the policy does not allow is a [*PolicyError]. Access
// tokens (Type "at+jwt") get the RFC 9068 defaults: the issuer as audience
// when the client has no default one, every scope the client may have when
// none is asked for.
func (l *Ledger) applyPolicy(now time.Time, req *IssueRequest, names []string) error {
	c := req.Client
	p := &c.Policy
	access := req.Type == accessTokenType
	if access {
		for _, sc := range req.Scopes {
			if !slices.Contains(p.TokenScopes, sc) {
				return &PolicyError{Rule: "scope", Detail: "scope " + sc + " is not allowed for this client", reason: "policy: token scope " + sc + " not allowed"}
			}
		}
		if len(req.Scopes) == 0 {
			req.Scopes = p.TokenScopes
		}
	} else if len(req.Scopes) > 0 {
		return invalidf("scopes are for access tokens (type %q)", accessTokenType)
	}
	for _, a := range req.Audience {
		if len(p.Audiences) > 0 && !slices.Contains(p.Audiences, a) {
			return &PolicyError{Rule: "audience", Detail: "audience " + a + " is not allowed for this client", reason: "policy: audience " + a + " not allowed"}
		}
	}
	if len(req.Audience) == 0 {
		switch {
		case p.DefaultAudience != "":
			req.Audience = []string{p.DefaultAudience}
		case access:
			req.Audience = []string{cmp.Or(p.DefaultAudience, l.cfg.Issuer)}
		}
	}
	maxTTL := p.MaxTTL
	ttl := req.TTL
	switch {
	case !req.Expiry.IsZero():
		ttl = req.Expiry.Sub(now)
	case ttl == 0:
		// No lifetime asked for: the default, within the client's maximum.
		ttl = l.cfg.TTL
		if maxTTL > 0 && maxTTL < ttl {
			ttl = maxTTL
		}
		req.TTL = ttl
	}
	if maxTTL > 0 && ttl > maxTTL {
		return &PolicyError{Rule: "lifetime", Detail: "lifetime above this client's maximum of " + maxTTL.String(), reason: "policy: ttl " + ttl.String() + " above max"}
	}
	// No claims list allows no custom claim; "*" allows any, explicitly.
	if !slices.Contains(p.Claims, clientauth.AnyClaim) {
		for _, name := range names {
			if !slices.Contains(p.Claims, name) {
				return &PolicyError{Rule: "claim", Detail: "custom claim " + name + " is not allowed for this client (its policy lists the claims it may set; \"*\" allows any)", reason: "policy: claim " + name + " not allowed"}
			}
		}
	}
	return nil
}

// accessTokenType is the typ of RFC 9068 access tokens.
const accessTokenType = "at+jwt"

// accessClaims adds the claims of an access token for req.Client to the
// custom claims: client_id, and scope when it has any (RFC 9068 2.2).
func accessClaims(merged map[string]json.RawMessage, names []string, req *IssueRequest) (map[string]json.RawMessage, []string, error) {
	add := map[string]string{"client_id": req.Client.ID}
	if len(req.Scopes) > 0 {
		add["scope"] = strings.Join(req.Scopes, " ")
	}
	if merged == nil {
		merged = make(map[string]json.RawMessage, len(add))
	}
	for name, v := range add {
		if _, ok := merged[name]; ok {
			return nil, nil, invalidf("claim %q of an access token is set by the ledger", name)
		}
		merged[name] = strictjson.AppendString(nil, v)
		names = append(names, name)
	}
	slices.Sort(names)
	return merged, names, nil
}

// denialRecord is the auth.denied record of a policy refusal, or nil when
// the denial limiter counts it instead.
func (l *Ledger) denialRecord(pe *PolicyError, m Meta) *audit.Record {
	if !l.denied.Allow(time.Now(), m.Remote, m.Actor) {
		return nil
	}
	rec := l.record(audit.AuthDenied, audit.Denied, m)
	rec.Reason = pe.reason
	return rec
}
