package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/keys"
)

var issueCmd = &command{
	name:    "issue",
	summary: "issue a signed token (printed on stdout)",
	doc: `Issues a JWT, records it in the audit ledger, and prints it on stdout. The
token is printed only once its audit record is on disk.

Without --key or --secret-file the ledger's managed active key signs (an
ES256 key is generated on first use). With --server the token is issued by
a running jwtledger server, as the client whose secret is --client-secret;
the server's ledger keeps the record.
`,
	notes: `Registered claims in --claims-file or --claim follow rules, never silent
overrides: sub, aud and nbf are taken as given (they must agree with --sub
and --aud); exp is taken as given if it is in the future (and within the
server's and the client's maximum lifetime with --server), instead of --ttl;
iss must be the ledger's issuer; iat and jti are set by the ledger, and a
given value that differs is refused.

Examples:
  jwtledger issue --sub alice
  jwtledger issue --sub alice --aud api --ttl 15m --claim role=admin --claim 'scopes=["a","b"]'
  echo '{"sub":"u","aud":"api","exp":'$(($(date +%s)+600))',"payload":{"user_id":1}}' | jwtledger issue --claims-file -
  jwtledger issue --sub svc --key rsa.pem --alg PS256
  jwtledger issue --sub svc --secret-file secret.bin --alg HS256
  jwtledger issue --server http://127.0.0.1:8080 --client-secret "$SECRET" --sub alice
`,
	flags: issueFlags,
}

func issueFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	var auds, claims stringList
	sub := fs.String("sub", "", "subject (sub) `S`")
	fs.Var(&auds, "aud", "audience (aud) `A`; repeat for several")
	ttl := fs.Duration("ttl", defaults.TTL, "lifetime `D`")
	fs.Var(&claims, "claim", "claim `k=v`; v is parsed as JSON when it is valid JSON, else taken as a string; repeat for several")
	claimsFile := fs.String("claims-file", "", "JSON object of claims from `F`, - for stdin (--claim flags win)")
	keyFile := fs.String("key", "", "sign with the private key in `FILE` (PEM, JWK or JWKS)")
	kid := fs.String("kid", "", "with a JWKS in --key: the `KID` of the key to use")
	secretFile := fs.String("secret-file", "", "sign with the raw HMAC secret in `F` (needs --alg HS*)")
	algName := fs.String("alg", "", "algorithm `ALG` for --key or --secret-file")
	output := fs.String("output", "token", "`token|json`: the token alone, or an object with jti, kid, exp")
	rf := addRemoteFlags(fs)
	return func(ctx context.Context, c *cli, pos []string) error {
		var err error
		if len(pos) > 0 {
			return usageErr("issue: unexpected argument %q", pos[0])
		}
		if *output != "token" && *output != "json" {
			return usageErr("issue: --output must be token or json")
		}
		if *ttl <= 0 {
			return usageErr("issue: --ttl must be positive, got %s", *ttl)
		}
		// Without --ttl the ledger's default applies, and a claim exp may
		// take its place.
		ttlSet := false
		fs.Visit(func(f *flag.Flag) { ttlSet = ttlSet || f.Name == "ttl" })
		req := jwtledger.IssueRequest{Subject: *sub, Audience: auds, Meta: localMeta()}
		if ttlSet {
			req.TTL = *ttl
		}
		if req.Claims, err = c.customClaims(*claimsFile, claims); err != nil {
			return err
		}
		if rf.on() {
			if *keyFile != "" || *secretFile != "" || *algName != "" {
				return usageErr("issue: --key, --secret-file and --alg are for local signing, not --server")
			}
			cl, err := rf.client()
			if err != nil {
				return err
			}
			body := api.IssueRequest{Sub: *sub, Aud: api.Audience(auds)}
			if ttlSet {
				body.TTL = api.Duration(*ttl)
			}
			if req.Claims != nil {
				if body.Claims, err = json.Marshal(req.Claims); err != nil {
					return usageErr("issue: %v", err)
				}
			}
			out, err := cl.Issue(ctx, body)
			if err != nil {
				return remoteErr(err)
			}
			if *output == "json" {
				return writeJSON(c.stdout, struct {
					Token     string    `json:"token"`
					JTI       string    `json:"jti"`
					KID       string    `json:"kid"`
					ExpiresAt time.Time `json:"expires_at"`
				}{out.Token, out.JTI, out.KID, out.ExpiresAt})
			}
			fmt.Fprintln(c.stdout, out.Token)
			return nil
		}
		if *algName != "" {
			if req.Alg, err = keys.ParseAlg(*algName); err != nil {
				return usageErr("issue: --alg: %v", err)
			}
		}
		if req.Key, err = c.signingKey(*keyFile, *secretFile, *kid, req.Alg); err != nil {
			return err
		}
		if req.Key == nil && req.Alg != "" {
			return usageErr("issue: --alg goes with --key or --secret-file (managed keys carry their own algorithm)")
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		iss, err := l.Issue(ctx, req)
		if err != nil {
			if errors.Is(err, jwtledger.ErrAudit) {
				return withHint(usageErr("%v; no token was issued", err), "the store must be writable: check --store and the data directory")
			}
			return usageErr("issue: %v", err)
		}
		if *output == "json" {
			return writeJSON(c.stdout, iss)
		}
		fmt.Fprintln(c.stdout, iss.Token)
		return nil

	}
}

// customClaims merges --claims-file and --claim flags (flags win).
func (c *cli) customClaims(file string, flags []string) (map[string]any, error) {
	out := map[string]any{}
	if file != "" {
		data, err := c.readInput(file, 1<<20)
		if err != nil {
			return nil, err
		}
		ms, err := strictjson.ParseObject(data, nil)
		if err != nil {
			return nil, usageErr("--claims-file: want one JSON object of claims: %v", err)
		}
		for _, m := range ms {
			out[m.Name] = json.RawMessage(m.Value)
		}
	}
	for _, kv := range flags {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, usageErr("--claim %q: want name=value", kv)
		}
		if strictjson.Valid([]byte(value)) == nil {
			out[name] = json.RawMessage(value)
		} else {
			out[name] = value
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// signingKey loads --key or --secret-file; nil means the managed key.
func (c *cli) signingKey(keyFile, secretFile, kid string, alg keys.Alg) (*keys.Key, error) {
	switch {
	case keyFile != "" && secretFile != "":
		return nil, usageErr("--key and --secret-file exclude each other")
	case secretFile != "":
		if alg == "" {
			return nil, usageErr("--secret-file needs --alg (HS256, HS384 or HS512)")
		}
		secret, err := c.readInput(secretFile, 1<<20)
		if err != nil {
			return nil, err
		}
		k, err := keys.NewHMAC(secret, alg)
		if err != nil {
			return nil, usageErr("--secret-file %s: %v", secretFile, err)
		}
		return k, nil
	case keyFile != "":
		ks, err := c.loadKeys(keyFile)
		if err != nil {
			return nil, err
		}
		var cands []*keys.Key
		for _, k := range ks {
			if k.IsPrivate() && (kid == "" || k.KID == kid) {
				cands = append(cands, k)
			}
		}
		switch {
		case len(cands) == 0 && kid != "":
			return nil, usageErr("--key %s: no private key with kid %q", keyFile, kid)
		case len(cands) == 0:
			return nil, usageErr("--key %s: holds no private key; signing needs one", keyFile)
		case len(cands) > 1:
			return nil, usageErr("--key %s: holds %d private keys; choose one with --kid", keyFile, len(cands))
		}
		k := cands[0]
		if alg != "" {
			if err := k.CheckSign(alg); err != nil {
				return nil, usageErr("--key %s: %v", keyFile, err)
			}
		}
		return k, nil
	}
	return nil, nil
}

// loadKeys reads a key file (PEM, JWK, JWKS).
func (c *cli) loadKeys(name string) ([]*keys.Key, error) {
	data, err := c.readInput(name, 1<<20)
	if err != nil {
		return nil, err
	}
	ks, err := keys.Parse(data)
	if err != nil {
		return nil, usageErr("--key %s: %v", name, err)
	}
	return ks, nil
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
