package jwtledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/internal/token"
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
	Key *Key
	Alg Alg
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
	Alg       Alg       `json:"alg"`
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

// prepareIssue applies the rules for registered claims given among req's
// Claims and ClaimsJSON (see [IssueRequest]) and moves them into req's
// fields, leaving only custom claims behind, in ClaimsJSON, as
// [Ledger.Issue] does before it applies req.Client's policy. The errors
// are [*RequestError]s.
func (l *Ledger) prepareIssue(req *IssueRequest) error {
	merged, names, err := l.prepare(l.cfg.Now(), req)
	if err != nil {
		return err
	}
	req.Claims, req.ClaimsJSON = nil, encodeCustom(merged, names)
	return nil
}

// prepare reads req's Claims and ClaimsJSON, once: the registered claims
// among them become req's fields; the custom ones are returned (compact
// JSON values by name), with their names sorted.
func (l *Ledger) prepare(now time.Time, req *IssueRequest) (custom map[string]json.RawMessage, names []string, err error) {
	if len(req.Claims) == 0 && len(req.ClaimsJSON) == 0 {
		return nil, nil, nil
	}
	merged, err := mergeClaims(req)
	if err != nil {
		return nil, nil, err
	}
	var reg []byte // the registered members, as one object
	for _, name := range token.Registered {
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
		given, err := token.ParseClaims(append(reg, '}'))
		if err != nil {
			return nil, nil, invalidf("%w", err)
		}
		if err := l.takeRegistered(now, req, merged, given); err != nil {
			return nil, nil, invalidf("%w", err)
		}
		for _, name := range token.Registered {
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

// encodeCustom is the compact JSON object of the custom claims, members
// in the order of names (nil when there are none).
func encodeCustom(merged map[string]json.RawMessage, names []string) []byte {
	if len(names) == 0 {
		return nil
	}
	size := 2
	for _, name := range names {
		size += len(name) + len(merged[name]) + 4
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, name := range names {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(strictjson.AppendString(out, name), ':')
		out = append(out, merged[name]...)
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
// that are registered, read into given) into req's fields.
func (l *Ledger) takeRegistered(now time.Time, req *IssueRequest, merged map[string]json.RawMessage, given *token.Claims) error {
	has := func(name string) bool { _, ok := merged[name]; return ok }
	if has("sub") {
		if req.Subject != "" && req.Subject != given.Subject {
			return fmt.Errorf("the subject is given twice, as %q and as claim \"sub\" %q", req.Subject, given.Subject)
		}
		req.Subject = given.Subject
	}
	if has("aud") {
		if len(req.Audience) > 0 && !slices.Equal(req.Audience, given.Audience) {
			return fmt.Errorf("the audience is given twice, as %q and as claim \"aud\" %q", req.Audience, given.Audience)
		}
		req.Audience = given.Audience
	}
	if has("nbf") {
		if !req.NotBefore.IsZero() && !req.NotBefore.Equal(given.NotBefore) {
			return fmt.Errorf("not-before is given twice, as %s and as claim \"nbf\" %s", req.NotBefore.UTC().Format(time.RFC3339), given.NotBefore.UTC().Format(time.RFC3339))
		}
		req.NotBefore = given.NotBefore
	}
	if has("exp") {
		switch {
		case req.TTL != 0:
			return fmt.Errorf("claim \"exp\" and a lifetime (%s) are both given; give one", req.TTL)
		case !req.Expiry.IsZero() && !req.Expiry.Equal(given.Expiry):
			return fmt.Errorf("the expiry is given twice, as %s and as claim \"exp\" %s", req.Expiry.UTC().Format(time.RFC3339), given.Expiry.UTC().Format(time.RFC3339))
		}
		req.Expiry = given.Expiry
	}
	if has("iss") && given.Issuer != l.cfg.Issuer {
		return fmt.Errorf("claim \"iss\" is %q, but this ledger's issuer is %q", given.Issuer, l.cfg.Issuer)
	}
	if has("iat") {
		if given.IssuedAt.Unix() != now.Unix() || given.IssuedAt.Nanosecond() != 0 {
			return fmt.Errorf("claim \"iat\" is set by the ledger (now: %d); the given %s differs (leave it out)", now.Unix(), merged["iat"])
		}
		req.issuedAt = given.IssuedAt
	}
	if has("jti") {
		return fmt.Errorf("claim \"jti\" is set by the ledger (a random id); a given jti (%s) is refused", merged["jti"])
	}
	return nil
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
	if err := c.CheckStrings(); err != nil {
		return nil, invalidf("%v", err)
	}
	typ := req.Type
	if typ == "" {
		typ = "JWT"
	}
	raw, err := token.Sign(k, alg, typ, &c, encodeCustom(merged, names))
	if err != nil {
		var ke *token.KeyError
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

// mergeClaims merges Claims and ClaimsJSON (which wins) into one map of
// JSON values; ClaimsJSON is read strictly (one object, no duplicate names).
func mergeClaims(req *IssueRequest) (map[string]json.RawMessage, error) {
	merged := make(map[string]json.RawMessage, len(req.Claims))
	for name, v := range req.Claims {
		j, err := json.Marshal(v)
		if err != nil {
			return nil, invalidf("claim %q: %v", name, err)
		}
		merged[name] = j
	}
	if len(req.ClaimsJSON) > 0 {
		ms, err := strictjson.ParseObject(req.ClaimsJSON, nil)
		if err != nil {
			return nil, invalidf("claims: %v", err)
		}
		for _, m := range ms {
			merged[m.Name] = json.RawMessage(strictjson.Compact(nil, m.Value))
		}
	}
	return merged, nil
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
