package jwtledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/token"
)

// IssueRequest describes a token to issue. The zero value issues a token
// with the configured issuer and lifetime, no subject and no audience.
type IssueRequest struct {
	Subject  string
	Audience []string
	// TTL is the lifetime; zero means the configured default (1h).
	TTL time.Duration
	// NotBefore, if set, becomes the nbf claim.
	NotBefore time.Time
	// Claims are custom claims. Registered claims (iss, sub, aud, exp, nbf,
	// iat, jti) are refused here, never silently overridden.
	Claims map[string]any
	// ClaimsJSON is a JSON object of custom claims, merged after Claims.
	ClaimsJSON []byte
	// Key signs instead of the managed active key, with Alg (default: the
	// key's own algorithm).
	Key *Key
	Alg Alg
	// Type is the header typ; default "JWT".
	Type string
	// Meta identifies the caller in the audit record.
	Meta Meta
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

func (l *Ledger) issue(now time.Time, req *IssueRequest, rec *audit.Record) (*Issued, error) {
	ttl := req.TTL
	if ttl == 0 {
		ttl = l.cfg.TTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("%w: negative lifetime %s", ErrInvalidRequest, ttl)
	}
	if l.cfg.MaxTTL > 0 && ttl > l.cfg.MaxTTL {
		return nil, fmt.Errorf("%w: lifetime %s exceeds the maximum %s", ErrInvalidRequest, ttl, l.cfg.MaxTTL)
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
		IssuedAt: now, Expiry: now.Add(ttl), NotBefore: req.NotBefore, ID: randomID(),
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

// customClaims merges Claims and ClaimsJSON into one validated JSON object.
func customClaims(req *IssueRequest) ([]byte, error) {
	if len(req.Claims) == 0 && len(req.ClaimsJSON) == 0 {
		return nil, nil
	}
	merged := make(map[string]json.RawMessage, len(req.Claims))
	for name, v := range req.Claims {
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: claim %q: %v", ErrInvalidRequest, name, err)
		}
		merged[name] = j
	}
	if len(req.ClaimsJSON) > 0 {
		if _, err := token.CompactCustom(req.ClaimsJSON); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(req.ClaimsJSON, &m); err != nil {
			return nil, fmt.Errorf("%w: custom claims: %v", ErrInvalidRequest, err)
		}
		for name, v := range m {
			merged[name] = v
		}
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
