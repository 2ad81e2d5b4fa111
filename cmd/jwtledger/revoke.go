package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger"
)

var revokeCmd = &command{
	name:    "revoke",
	summary: "revoke a token by jti (or by the token itself)",
	usage: `Usage: jwtledger revoke --jti JTI [--iss ISS]
       jwtledger revoke [TOKEN|-]

Revokes a token: from then on it verifies as "revoked". Revocation is keyed
on (iss, jti); --iss defaults to the ledger's issuer. Given a token, it must
verify against the managed keys (expiry aside) before it is revoked.

Examples:
  jwtledger revoke --jti 3q2-7wEAAAABAAAAAAAAAA
  jwtledger revoke "$TOKEN"
`,
	run: func(ctx context.Context, c *cli, cmd *command, args []string) error {
		fs := c.newFlagSet(cmd)
		lf := addLedgerFlags(fs)
		jti := fs.String("jti", "", "")
		iss := fs.String("iss", "", "")
		pos, err := c.parse(cmd, fs, args)
		if err != nil {
			return err
		}
		var raw string
		if *jti == "" {
			if raw, err = c.tokenArg("revoke", pos); err != nil {
				return err
			}
		} else if len(pos) > 0 {
			return usageErr("revoke: give --jti or a token, not both")
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		m := localMeta()
		var exp time.Time
		if raw != "" {
			// The signature is checked before any claim, so these outcomes
			// all mean the token is genuine.
			tok, err := l.Verify(ctx, raw, jwtledger.WithMeta(m))
			switch jwtledger.OutcomeOf(err) {
			case jwtledger.Valid, jwtledger.Expired, jwtledger.NotYetValid, jwtledger.Revoked:
			default:
				return usageErr("revoke: the token does not verify against the managed keys: %v", err)
			}
			exp = tok.Claims.Expiry
			*jti, *iss = tok.Claims.ID, tok.Claims.Issuer
			if *jti == "" {
				return usageErr("revoke: the token has no jti, so it cannot be revoked")
			}
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
	},
}
