package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/strictjson"
)

var issueCmd = &command{
	name:    "issue",
	summary: "issue a signed token (printed on stdout)",
	usage: `Usage: jwtledger issue [flags]

Issues a JWT, records it in the audit ledger, and prints it on stdout. The
token is printed only once its audit record is on disk.

Without --key or --secret-file the ledger's managed active key signs (an
ES256 key is generated on first use).

Flags:
  --sub S              subject (sub)
  --aud A              audience (aud); repeat for several
  --ttl D              lifetime (default 1h)
  --claim k=v          custom claim; v is parsed as JSON when it is valid JSON,
                       else taken as a string; repeat for several
  --claims-file F|-    JSON object of custom claims (from a file or stdin)
  --key FILE           sign with this private key (PEM, JWK or JWKS)
  --kid KID            with a JWKS in --key: the key to use
  --secret-file F      sign with the raw HMAC secret in F (needs --alg HS*)
  --alg ALG            algorithm for --key/--secret-file
  --output token|json  print the token alone (default) or JSON with jti, kid, exp
  --data-dir, --store, --issuer, --audit-jsonl, --text-log   see 'jwtledger help'

Registered claims (iss, sub, aud, exp, nbf, iat, jti) cannot be set as
custom claims.

Examples:
  jwtledger issue --sub alice
  jwtledger issue --sub alice --aud api --ttl 15m --claim role=admin --claim 'scopes=["a","b"]'
  jwtledger issue --sub svc --key rsa.pem --alg PS256
  jwtledger issue --sub svc --secret-file secret.bin --alg HS256
`,
	run: runIssue,
}

func runIssue(ctx context.Context, c *cli, cmd *command, args []string) error {
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	var auds, claims stringList
	sub := fs.String("sub", "", "")
	fs.Var(&auds, "aud", "")
	ttl := fs.Duration("ttl", jwtledger.DefaultTTL, "")
	fs.Var(&claims, "claim", "")
	claimsFile := fs.String("claims-file", "", "")
	keyFile := fs.String("key", "", "")
	kid := fs.String("kid", "", "")
	secretFile := fs.String("secret-file", "", "")
	algName := fs.String("alg", "", "")
	output := fs.String("output", "token", "")
	rf := addRemoteFlags(fs)
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("issue: unexpected argument %q", pos[0])
	}
	if *output != "token" && *output != "json" {
		return usageErr("issue: --output must be token or json")
	}
	if *ttl <= 0 {
		return usageErr("issue: --ttl must be positive, got %s", *ttl)
	}
	req := jwtledger.IssueRequest{Subject: *sub, Audience: auds, TTL: *ttl, Meta: localMeta()}
	if req.Claims, err = c.customClaims(*claimsFile, claims); err != nil {
		return err
	}
	if rf.on() {
		if *keyFile != "" || *secretFile != "" || *algName != "" {
			return usageErr("issue: --key, --secret-file and --alg are for local signing, not --server")
		}
		var out struct {
			Token     string    `json:"token"`
			JTI       string    `json:"jti"`
			KID       string    `json:"kid"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := rf.call(ctx, "POST", "/v1/tokens", map[string]any{"sub": *sub, "aud": []string(auds), "ttl": ttl.String(), "claims": req.Claims}, &out); err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(c.stdout, out)
		}
		fmt.Fprintln(c.stdout, out.Token)
		return nil
	}
	if *algName != "" {
		if req.Alg, err = jwtledger.ParseAlg(*algName); err != nil {
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

// customClaims merges --claims-file and --claim flags (flags win).
func (c *cli) customClaims(file string, flags []string) (map[string]any, error) {
	out := map[string]any{}
	if file != "" {
		data, err := c.readInput(file, 1<<20)
		if err != nil {
			return nil, err
		}
		if err := strictjson.Valid(data); err != nil {
			return nil, usageErr("--claims-file: %v", err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil || m == nil {
			return nil, usageErr("--claims-file: want a JSON object of claims")
		}
		for k, v := range m {
			out[k] = v
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
func (c *cli) signingKey(keyFile, secretFile, kid string, alg jwtledger.Alg) (*jwtledger.Key, error) {
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
		k, err := jwtledger.NewHMACKey(secret, alg)
		if err != nil {
			return nil, usageErr("--secret-file %s: %v", secretFile, err)
		}
		return k, nil
	case keyFile != "":
		ks, err := c.loadKeys(keyFile)
		if err != nil {
			return nil, err
		}
		var cands []*jwtledger.Key
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
func (c *cli) loadKeys(name string) ([]*jwtledger.Key, error) {
	data, err := c.readInput(name, 1<<20)
	if err != nil {
		return nil, err
	}
	ks, err := jwtledger.ParseKeys(data)
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
