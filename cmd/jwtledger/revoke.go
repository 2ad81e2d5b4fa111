package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

var revokeCmd = &command{
	name:    "revoke",
	summary: "revoke a token by jti (or by the token itself)",
	args:    "[TOKEN|-]",
	doc: `Revokes a token: from then on it verifies as "revoked". Revocation is keyed
on (iss, jti). Give the token itself (the argument, or stdin), or --jti:

  - a token must verify against the managed keys (expiry aside); its iss,
    jti and exp are taken from it.
  - --jti JTI --iss ISS revokes that pair, whoever issued it.
  - --jti JTI alone revokes a token this ledger issued from the command
    line: its token.issue record in the audit trail names it, and the iss is
    the ledger's (--issuer, default "jwtledger"). A jti with no such record,
    or one issued through serve (whose tokens carry serve's URL as iss), is
    refused with the hint to give --iss or the token.
`,
	notes: `Examples:
  jwtledger revoke "$TOKEN"
  jwtledger revoke --jti 3q2-7wEAAAABAAAAAAAAAA
  jwtledger revoke --jti 3q2-7wEAAAABAAAAAAAAAA --iss http://127.0.0.1:8080
`,
	flags: revokeFlags,
}

func revokeFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	jti := fs.String("jti", "", "revoke the token whose jti is `JTI`")
	iss := fs.String("iss", "", "with --jti: the issuer `ISS` of the token")
	return func(ctx context.Context, c *cli, pos []string) error {
		var raw string
		var err error
		switch {
		case *jti == "" && *iss != "":
			return usageErr("revoke: --iss goes with --jti (a token names its own issuer)")
		case *jti == "":
			if raw, err = c.tokenArg("revoke", pos); err != nil {
				return err
			}
		case len(pos) > 0:
			return usageErr("revoke: give --jti or a token, not both")
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		m := localMeta()
		var exp time.Time
		switch {
		case raw != "":
			// The signature is checked before any claim, so these outcomes
			// all mean the token is genuine.
			tok, err := l.Verify(ctx, raw, jwtledger.WithMeta(m))
			switch token.OutcomeOf(err) {
			case token.Valid, token.Expired, token.NotYetValid, token.Revoked:
			default:
				return usageErr("revoke: the token does not verify against the managed keys: %v", err)
			}
			exp = tok.Claims.Expiry
			*jti, *iss = tok.Claims.ID, tok.Claims.Issuer
			if *jti == "" {
				return usageErr("revoke: the token has no jti, so it cannot be revoked")
			}
		case *iss == "":
			if exp, err = issuedHere(ctx, l, *jti); err != nil {
				return err
			}
			*iss = l.Issuer()
		}
		already, err := l.Revoke(ctx, *iss, *jti, exp, m)
		if err != nil {
			return usageErr("revoke: %v", err)
		}
		if already {
			fmt.Fprintf(c.stdout, "already revoked: %s\n", *jti)
		} else {
			fmt.Fprintf(c.stdout, "revoked: %s\n", *jti)
		}
		return nil
	}
}

// issuedHere finds the issuance of jti on the command line of this ledger,
// whose tokens carry the ledger's issuer, and returns the token's expiry.
// Any other jti needs its issuer named: a revocation of the wrong (iss,
// jti) pair would succeed and revoke nothing.
func issuedHere(ctx context.Context, l *jwtledger.Ledger, jti string) (time.Time, error) {
	recs, err := l.Trail().Query(ctx, trail.Filter{Event: "token.issue", Outcome: "ok", JTI: jti})
	if err != nil {
		return time.Time{}, err
	}
	if len(recs) == 0 {
		return time.Time{}, withHint(usageErr("revoke: this ledger has no record of issuing a token with jti %q, so its issuer is unknown", jti),
			"give the issuer with --iss, or the token itself")
	}
	r := recs[len(recs)-1]
	if !strings.HasPrefix(r.Actor, "local:") {
		return time.Time{}, withHint(usageErr("revoke: the token with jti %q was issued through serve (client %s), so its iss is serve's issuer URL, not %q", jti, r.Actor, l.Issuer()),
			"give it with --iss (serve prints it: \"issuer http://...\"), or the token itself")
	}
	return r.Exp, nil
}
