package jwtledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/claims"
	"github.com/jwtledger/jwtledger/internal/jws"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
)

// IssueRequest describes a token to issue. The zero value issues a token
// with the configured issuer and lifetime, no subject and no audience.
//
// Registered claims may also be given among Claims and ClaimsJSON (as a
// claims file or a PyJWT payload holds them); they follow rules, and are
// never silently overridden:
//   - sub, aud and nbf are taken as given, like Subject, Audience and
//     NotBefore (a field and a claim that disagree are refused);
//   - exp is taken as given, like Expiry: it must be in the future and
//     within Config.MaxTTL, and excludes TTL;
//   - iss must equal the ledger's issuer ([Ledger.Issuer]);
//   - iat and jti are set by the ledger: a given value that differs from
//     the ledger's is refused (so a jti always is).
type IssueRequest struct {
	Subject  string
	Audience []string
	// TTL is the lifetime; zero means the configured default (1h).
	TTL time.Duration
	// Expiry, if set, is the exp claim instead of the issuance time plus
	// TTL; it must be in the future and within Config.MaxTTL.
	Expiry time.Time
	// NotBefore, if set, becomes the nbf claim.
	NotBefore time.Time
	// Claims are further claims: custom ones, and registered ones under
	// the rules above.
	Claims map[string]any
	// ClaimsJSON is a JSON object of claims, merged after Claims.
	ClaimsJSON []byte
	// Key signs instead of the managed active key, with Alg (default: the
	// key's own algorithm).
	Key *keys.Key
	Alg keys.Alg
	// Type is the header typ; default "JWT".
	Type string
	// Meta identifies the caller in the audit record (Meta.Actor
	// defaults to Client's id).
	Meta Meta
	// Client, if set, is the client the request is made on behalf of: its
	// policy ([ClientPolicy]) applies. Audiences outside its list, a
	// lifetime above its maximum and custom claims it may not set are
	// refused with a [*PolicyError] and recorded as auth.denied; a request
	// without audience gets its default audience, one without lifetime
	// the default lifetime within its maximum. With Type "at+jwt" the
	// token is an RFC 9068 access token for the client: it carries
	// client_id, the issuer is its audience when the client has no default
	// one, and scope holds Scopes.
	Client *Client
	// Scopes are the scopes of an access token (Type "at+jwt" with
	// Client); each must be among the client's TokenScopes, and none means
	// all of them.
	Scopes []string

	issuedAt time.Time // a given iat found equal to the ledger's clock
}

// Issued is an issued token and what the ledger recorded about it.
type Issued struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	KID       string    `json:"kid"`
	Alg       keys.Alg  `json:"alg"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Scope is the scope claim of an access token (see IssueRequest.Scopes).
	Scope string `json:"scope,omitempty"`
}

// Issue signs a token and returns it once its audit record is durable. A
// request the ledger refuses is recorded too, with outcome "error"; one
// refused by the policy of req.Client is a [*PolicyError], recorded as
// auth.denied instead.
func (l *Ledger) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	if l.readOnly != nil {
		return nil, l.readOnly
	}
	if req.Client != nil && req.Meta.Actor == "" {
		req.Meta.Actor = req.Client.ID
	}
	var iss *Issued
	var ierr error
	err := l.w.Record(ctx, func() *audit.Record {
		rec := l.record(audit.TokenIssue, audit.OK, req.Meta)
		rec.Sub, rec.Aud = req.Subject, req.Audience
		iss, ierr = l.issue(l.cfg.Now(), &req, rec)
		if ierr != nil {
			// issue returns applyPolicy's refusal as it is (a type
			// assertion, not errors.As, keeps pe off the heap).
			if pe, ok := ierr.(*PolicyError); ok {
				return l.denialRecord(pe, req.Meta)
			}
			rec.Outcome, rec.Reason = audit.Error, ierr.Error()
		}
		return rec
	})
	if err != nil {
		return nil, auditErr(ctx, err)
	}
	if ierr != nil {
		return nil, ierr
	}
	return iss, nil
}

// prepare reads req's Claims and ClaimsJSON, once (see [claims.Split]):
// the registered claims among them become req's fields; the custom ones
// are returned (compact JSON values by name), with their names sorted.
func (l *Ledger) prepare(now time.Time, req *IssueRequest) (custom map[string]json.RawMessage, names []string, err error) {
	if len(req.Claims) == 0 && len(req.ClaimsJSON) == 0 {
		return nil, nil, nil
	}
	f := claims.Fields{Subject: req.Subject, Audience: req.Audience, TTL: req.TTL, Expiry: req.Expiry, NotBefore: req.NotBefore}
	custom, names, err = claims.Split(now, l.cfg.Issuer, &f, req.Claims, req.ClaimsJSON)
	if err != nil {
		return nil, nil, invalidf("%w", err)
	}
	req.Subject, req.Audience, req.Expiry, req.NotBefore = f.Subject, f.Audience, f.Expiry, f.NotBefore
	if !f.IssuedAt.IsZero() {
		req.issuedAt = f.IssuedAt
	}
	return custom, names, nil
}

func (l *Ledger) issue(now time.Time, req *IssueRequest, rec *audit.Record) (*Issued, error) {
	merged, names, err := l.prepare(now, req)
	if err != nil {
		return nil, err
	}
	if !req.issuedAt.IsZero() {
		now = req.issuedAt
	}
	if req.Client != nil {
		if err := l.applyPolicy(now, req, names); err != nil {
			return nil, err
		}
		if req.Type == accessTokenType {
			if merged, names, err = accessClaims(merged, names, req); err != nil {
				return nil, err
			}
		}
	} else if len(req.Scopes) > 0 {
		return nil, invalidf("scopes are for access tokens made for a client")
	}
	rec.Sub, rec.Aud = req.Subject, req.Audience
	ttl := req.TTL
	switch {
	case !req.Expiry.IsZero():
		if ttl != 0 {
			return nil, invalidf("an expiry and a lifetime (%s) are both given; give one", ttl)
		}
		ttl = req.Expiry.Sub(now)
		if ttl <= 0 {
			return nil, invalidf("the expiry %s is not in the future", req.Expiry.UTC().Format(time.RFC3339))
		}
		if l.cfg.MaxTTL > 0 && ttl > l.cfg.MaxTTL {
			return nil, invalidf("the expiry %s is %s away, beyond the maximum lifetime %s", req.Expiry.UTC().Format(time.RFC3339), ttl.Round(time.Second), l.cfg.MaxTTL)
		}
	case ttl == 0:
		ttl = l.cfg.TTL
	}
	if ttl < 0 {
		return nil, invalidf("negative lifetime %s", ttl)
	}
	if l.cfg.MaxTTL > 0 && ttl > l.cfg.MaxTTL {
		return nil, invalidf("lifetime %s exceeds the maximum %s", ttl, l.cfg.MaxTTL)
	}
	exp := now.Add(ttl)
	if !req.Expiry.IsZero() {
		exp = req.Expiry
	}
	if !req.NotBefore.IsZero() && !req.NotBefore.Before(exp) {
		return nil, invalidf("not-before %s is not before the expiry %s", req.NotBefore.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
	}
	k, alg := req.Key, req.Alg
	if k == nil {
		l.ring.Refresh()
		k = l.ring.Active()
		if k == nil {
			return nil, fmt.Errorf("%w (hint: run 'jwtledger keys rotate')", ErrNoActiveKey)
		}
		if err := l.checkSigner(k); err != nil {
			// An HMAC key made active behind serve's back (keys rotate
			// --alg HS256 on the same store): no token until it is fixed.
			return nil, fmt.Errorf("%w: %w", ErrNoActiveKey, err)
		}
	}
	if alg == "" {
		alg = k.DefaultAlg()
	}
	rec.KID, rec.Alg = k.KID, string(alg)
	c := token.Claims{
		Issuer: l.cfg.Issuer, Subject: req.Subject, Audience: req.Audience,
		IssuedAt: now, Expiry: exp, NotBefore: req.NotBefore, ID: randomID(),
	}
	if err := jws.CheckStrings(&c); err != nil {
		return nil, invalidf("%v", err)
	}
	typ := req.Type
	if typ == "" {
		typ = "JWT"
	}
	raw, err := jws.Sign(k, alg, typ, &c, claims.Encode(merged, names))
	if err != nil {
		var ke *jws.KeyError
		if errors.As(err, &ke) {
			return nil, invalidf("%w", ke.Err)
		}
		return nil, fmt.Errorf("sign: %w", err)
	}
	rec.JTI, rec.Exp, rec.TokenSHA256 = c.ID, c.Expiry, fingerprint(raw)
	out := &Issued{Token: raw, JTI: c.ID, KID: k.KID, Alg: alg, IssuedAt: c.IssuedAt.UTC().Truncate(time.Second), ExpiresAt: c.Expiry.UTC().Truncate(time.Second)}
	if req.Client != nil && req.Type == accessTokenType {
		out.Scope = strings.Join(req.Scopes, " ")
	}
	return out, nil
}

// auditErr reports a failed append: the caller's own cancellation as such
// (the record may still be committed, but nobody is waiting), anything else
// as [ErrAudit].
func auditErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %w", ErrAudit, err)
}
