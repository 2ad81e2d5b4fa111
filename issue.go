package jwtledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
	// Meta identifies the caller in the audit record.
	Meta Meta

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
}

// Issue signs a token and returns it once its audit record is durable. A
// request the ledger refuses is recorded too, with outcome "error".
func (l *Ledger) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	if l.readOnly != nil {
		return nil, l.readOnly
	}
	l.w.Expect()
	now := l.cfg.Now()
	rec := l.record(audit.TokenIssue, audit.OK, req.Meta)
	rec.Sub, rec.Aud = req.Subject, req.Audience
	iss, err := l.issue(now, &req, rec)
	if err != nil {
		rec.Outcome, rec.Reason = audit.Error, err.Error()
		if aerr := l.w.Append(ctx, rec); aerr != nil {
			return nil, auditErr(ctx, aerr)
		}
		return nil, err
	}
	if err := l.w.Append(ctx, rec); err != nil {
		return nil, auditErr(ctx, err)
	}
	return iss, nil
}

// PrepareIssue applies the rules for registered claims given among req's
// Claims and ClaimsJSON (see [IssueRequest]) and moves them into req's
// fields, leaving only custom claims behind, in ClaimsJSON. [Ledger.Issue]
// does this itself; call PrepareIssue to look at the final subject,
// audience, lifetime and custom claim names first, as a server checking a
// client's policy does. The errors wrap [ErrInvalidRequest].
func (l *Ledger) PrepareIssue(req *IssueRequest) error {
	return l.prepare(l.cfg.Now(), req)
}

func (l *Ledger) prepare(now time.Time, req *IssueRequest) error {
	if len(req.Claims) == 0 && len(req.ClaimsJSON) == 0 {
		return nil
	}
	merged, err := mergeClaims(req)
	if err != nil {
		return err
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
			return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
		if err := l.takeRegistered(now, req, merged, given); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
		for _, name := range token.Registered {
			delete(merged, name)
		}
	}
	req.Claims, req.ClaimsJSON = nil, nil
	if len(merged) > 0 {
		obj, err := json.Marshal(merged)
		if err != nil {
			return fmt.Errorf("%w: custom claims: %v", ErrInvalidRequest, err)
		}
		if req.ClaimsJSON, err = token.CompactCustom(obj); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
	}
	return nil
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
	if err := l.prepare(now, req); err != nil {
		return nil, err
	}
	rec.Sub, rec.Aud = req.Subject, req.Audience
	if !req.issuedAt.IsZero() {
		now = req.issuedAt
	}
	ttl := req.TTL
	switch {
	case !req.Expiry.IsZero():
		if ttl != 0 {
			return nil, fmt.Errorf("%w: an expiry and a lifetime (%s) are both given; give one", ErrInvalidRequest, ttl)
		}
		ttl = req.Expiry.Sub(now)
		if ttl <= 0 {
			return nil, fmt.Errorf("%w: the expiry %s is not in the future", ErrInvalidRequest, req.Expiry.UTC().Format(time.RFC3339))
		}
		if l.cfg.MaxTTL > 0 && ttl > l.cfg.MaxTTL {
			return nil, fmt.Errorf("%w: the expiry %s is %s away, beyond the maximum lifetime %s", ErrInvalidRequest, req.Expiry.UTC().Format(time.RFC3339), ttl.Round(time.Second), l.cfg.MaxTTL)
		}
	case ttl == 0:
		ttl = l.cfg.TTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("%w: negative lifetime %s", ErrInvalidRequest, ttl)
	}
	if l.cfg.MaxTTL > 0 && ttl > l.cfg.MaxTTL {
		return nil, fmt.Errorf("%w: lifetime %s exceeds the maximum %s", ErrInvalidRequest, ttl, l.cfg.MaxTTL)
	}
	exp := now.Add(ttl)
	if !req.Expiry.IsZero() {
		exp = req.Expiry
	}
	if !req.NotBefore.IsZero() && !req.NotBefore.Before(exp) {
		return nil, fmt.Errorf("%w: not-before %s is not before the expiry %s", ErrInvalidRequest, req.NotBefore.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
	}
	k, alg := req.Key, req.Alg
	if k == nil {
		l.refreshKeys()
		l.mu.RLock()
		k = l.active
		l.mu.RUnlock()
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
	if err := k.CheckSign(alg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	c := token.Claims{
		Issuer: l.cfg.Issuer, Subject: req.Subject, Audience: req.Audience,
		IssuedAt: now, Expiry: exp, NotBefore: req.NotBefore, ID: randomID(),
	}
	if err := c.CheckStrings(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	extra, err := customClaims(req)
	if err != nil {
		return nil, err
	}
	typ := req.Type
	if typ == "" {
		typ = "JWT"
	}
	raw, err := token.Sign(k, alg, typ, &c, extra)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	rec.JTI, rec.Exp, rec.TokenSHA256 = c.ID, c.Expiry, fingerprint(raw)
	return &Issued{Token: raw, JTI: c.ID, KID: k.KID, Alg: alg, IssuedAt: c.IssuedAt.UTC().Truncate(time.Second), ExpiresAt: c.Expiry.UTC().Truncate(time.Second)}, nil
}

// mergeClaims merges Claims and ClaimsJSON (which wins) into one map of
// JSON values; ClaimsJSON is read strictly (one object, no duplicate names).
func mergeClaims(req *IssueRequest) (map[string]json.RawMessage, error) {
	merged := make(map[string]json.RawMessage, len(req.Claims))
	for name, v := range req.Claims {
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: claim %q: %v", ErrInvalidRequest, name, err)
		}
		merged[name] = j
	}
	if len(req.ClaimsJSON) > 0 {
		ms, err := strictjson.ParseObject(req.ClaimsJSON, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: claims: %v", ErrInvalidRequest, err)
		}
		for _, m := range ms {
			merged[m.Name] = json.RawMessage(strictjson.Compact(nil, m.Value))
		}
	}
	return merged, nil
}

// customClaims is the JSON object of req's custom claims (after prepare).
func customClaims(req *IssueRequest) ([]byte, error) {
	if len(req.Claims) == 0 && len(req.ClaimsJSON) == 0 {
		return nil, nil
	}
	merged, err := mergeClaims(req)
	if err != nil {
		return nil, err
	}
	obj, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("%w: custom claims: %v", ErrInvalidRequest, err)
	}
	out, err := token.CompactCustom(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
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
	return fmt.Errorf("%w: %v", ErrAudit, err)
}
