package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/jws"
	"github.com/jwtledger/jwtledger/keys"
)

var verifyCmd = &command{
	name:    "verify",
	summary: "verify a token and record the verdict",
	args:    "[TOKEN|-]",
	doc: `Verifies a JWT (from the argument, or stdin when it is absent or "-"),
records the verdict in the audit ledger, and prints it. The verdict is
printed only once its audit record is on disk.

The outcome is one of: valid, expired, not_yet_valid, invalid_signature,
malformed, unsupported_alg, unknown_key, invalid_claims, revoked.

Without --key the ledger's managed keys are used. With --server the token
is verified by a running jwtledger server with its keys, as the client
whose secret is --client-secret; same output, and the server's ledger
keeps the record.
`,
	notes: `Exit status: 0 valid, 1 refused, 2 usage or configuration error (bad flag,
unreadable or unsupported key, store unavailable: then no verdict is given).

Examples:
  jwtledger verify "$TOKEN"
  echo "$TOKEN" | jwtledger verify --output json
  jwtledger verify --key pub.pem --alg RS256 --iss https://issuer.example --aud api "$TOKEN"
  jwtledger verify --server http://127.0.0.1:8080 --client-secret "$SECRET" "$TOKEN"
`,
	flags: verifyFlags,
}

func verifyFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	var keyFiles, secretFiles stringList
	fs.Var(&keyFiles, "key", "verify with the keys in `FILE` (PEM public or private key or certificate, JWK including kty \"oct\", or JWKS); repeat for several")
	fs.Var(&secretFiles, "secret-file", "verify with the raw HMAC secret in `F`")
	algList := fs.String("alg", "", "accept only the algorithms `A[,B]`")
	iss := fs.String("iss", "", "require iss to equal `I`")
	aud := fs.String("aud", "", "require aud to contain `A`")
	leeway := fs.Duration("leeway", defaults.Leeway, "clock skew `D` allowed on exp, nbf and iat")
	requireExp := fs.Bool("require-exp", true, "refuse tokens without exp (--require-exp=false accepts them)")
	output := fs.String("output", "text", "`text|json`: a line, or the verdict {\"valid\",\"outcome\",\"reason\",\"header\",\"claims\"}")
	rf := addRemoteFlags(fs)
	return func(ctx context.Context, c *cli, pos []string) error {
		if *output != "text" && *output != "json" {
			return usageErr("verify: --output must be text or json")
		}
		if rf.on() {
			if len(keyFiles) > 0 || len(secretFiles) > 0 || *algList != "" || !*requireExp {
				return usageErr("verify: --key, --secret-file, --alg and --require-exp are for local verification, not --server")
			}
			raw, err := c.tokenArg("verify", pos)
			if err != nil {
				return err
			}
			cl, err := rf.client()
			if err != nil {
				return err
			}
			lw := api.Duration(*leeway)
			v, err := cl.Verify(ctx, api.VerifyRequest{Token: raw, Iss: *iss, Aud: *aud, Leeway: &lw})
			if err != nil {
				return remoteErr(err)
			}
			return c.printVerdict(*v, *output, verdictDetail(*v, ""))
		}
		if *leeway < 0 {
			return usageErr("verify: --leeway must not be negative")
		}
		opts := []jwtledger.VerifyOption{jwtledger.WithLeeway(*leeway), jwtledger.WithExpirationRequired(*requireExp),
			jwtledger.WithIssuer(*iss), jwtledger.WithAudience(*aud), jwtledger.WithMeta(localMeta())}
		var algs []keys.Alg
		if *algList != "" {
			for _, a := range strings.Split(*algList, ",") {
				alg, err := keys.ParseAlg(strings.TrimSpace(a))
				if err != nil {
					return usageErr("verify: --alg: %v", err)
				}
				algs = append(algs, alg)
			}
			opts = append(opts, jwtledger.WithAlgorithms(algs...))
		}
		withKeys, err := c.verificationKeys(keyFiles, secretFiles, algs)
		if err != nil {
			return err
		}
		if withKeys != nil {
			opts = append(opts, withKeys)
		}
		raw, err := c.tokenArg("verify", pos)
		if err != nil {
			return err
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		tok, verr := l.Verify(ctx, raw, opts...)
		if verr != nil && errors.Is(verr, jwtledger.ErrAudit) {
			return withHint(usageErr("%v; no verdict", verr), "the store must be writable: check --store and the data directory")
		}
		v := api.NewVerdict(tok, verr)
		keyKID := ""
		if tok != nil && tok.Key != nil {
			keyKID = tok.Key.KID
		}
		return c.printVerdict(v, *output, verdictDetail(v, keyKID))

	}
}

// verdictDetail is the line under "valid" in text output, read from the
// verdict alone so that local and --server verification print the same;
// keyKID names the key when the token's header names none.
func verdictDetail(v api.Verdict, keyKID string) string {
	if !v.Valid {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
	}
	var c struct {
		Sub string   `json:"sub"`
		JTI string   `json:"jti"`
		Exp *float64 `json:"exp"`
	}
	json.Unmarshal(v.Header, &h)
	json.Unmarshal(v.Claims, &c)
	kid := cmp.Or(h.KID, keyKID)
	exp := time.Time{}
	if c.Exp != nil {
		exp = time.Unix(int64(*c.Exp), 0)
	}
	return fmt.Sprintf("  kid=%s alg=%s sub=%q jti=%s exp=%s\n", kid, h.Alg, c.Sub, c.JTI, formatExp(exp))
}

// printVerdict prints a verdict (local or from a server) and turns a refusal
// into exit status 1.
func (c *cli) printVerdict(v api.Verdict, output, detail string) error {
	switch {
	case output == "json":
		if err := writeJSON(c.stdout, v); err != nil {
			return err
		}
	case v.Valid:
		fmt.Fprintln(c.stdout, "valid")
		fmt.Fprint(c.stdout, detail)
	default:
		fmt.Fprintf(c.stdout, "%s: %s\n", v.Outcome, oneLine(v.Reason))
	}
	if !v.Valid {
		return errRejected
	}
	return nil
}

func formatExp(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// tokenArg takes the token from the arguments or stdin.
func (c *cli) tokenArg(cmd string, pos []string) (string, error) {
	switch {
	case len(pos) > 1:
		return "", usageErr("%s: expected one token, got %d arguments", cmd, len(pos))
	case len(pos) == 1 && pos[0] != "-":
		return pos[0], nil
	}
	data, err := io.ReadAll(io.LimitReader(c.stdin, jws.MaxSize+2))
	if err != nil {
		return "", usageErr("%s: read stdin: %v", cmd, err)
	}
	s := string(data)
	// One trailing line ending is the shell's, not the token's.
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", withHint(usageErr("%s: no token given", cmd), "pass the token as an argument or on stdin")
	}
	return s, nil
}

// verificationKeys loads --key and --secret-file keys and returns the
// option verifying with them; nil means the managed keys.
func (c *cli) verificationKeys(keyFiles, secretFiles []string, algs []keys.Alg) (jwtledger.VerifyOption, error) {
	if len(keyFiles) == 0 && len(secretFiles) == 0 {
		return nil, nil
	}
	var all []*keys.Key
	for _, f := range keyFiles {
		ks, err := c.loadKeys(f)
		if err != nil {
			return nil, err
		}
		// A JWKS may hold keys for other uses (encryption, other
		// algorithms); the file is refused only when none can verify.
		var usable int
		var first error
		for _, k := range ks {
			if err := fitsOne(k, algs); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			usable++
		}
		if usable == 0 {
			return nil, usageErr("--key %s: %v", f, first)
		}
		all = append(all, ks...)
	}
	for _, f := range secretFiles {
		secret, err := c.readInput(f, 1<<20)
		if err != nil {
			return nil, err
		}
		var alg keys.Alg
		if len(algs) == 1 {
			alg = algs[0]
		}
		k, err := keys.NewHMAC(secret, alg)
		if err != nil {
			return nil, usageErr("--secret-file %s: %v", f, err)
		}
		if err := fitsOne(k, algs); err != nil {
			return nil, usageErr("--secret-file %s: %v", f, err)
		}
		all = append(all, k)
	}
	if err := keys.CheckUniqueKIDs(all); err != nil {
		return nil, usageErr("--key: %v", err)
	}
	return jwtledger.WithKeys(all...), nil
}

// fitsOne checks that k can verify at least one of algs (or, without algs,
// its own algorithm), so a weak or mismatched key is a configuration error.
func fitsOne(k *keys.Key, algs []keys.Alg) error {
	if len(algs) == 0 {
		if a := k.DefaultAlg(); a != "" {
			return k.CheckVerify(a)
		}
		return nil
	}
	var first error
	for _, a := range algs {
		err := k.CheckVerify(a)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
