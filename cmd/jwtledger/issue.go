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
	"github.com/jwtledger/jwtledger/internal/defaults"
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
  --claim k=v          claim; v is parsed as JSON when it is valid JSON,
                       else taken as a string; repeat for several
  --claims-file F|-    JSON object of claims (from a file or stdin)
  --key FILE           sign with this private key (PEM, JWK or JWKS)
  --kid KID            with a JWKS in --key: the key to use
  --secret-file F      sign with the raw HMAC secret in F (needs --alg HS*)
  --alg ALG            algorithm for --key/--secret-file
  --output token|json  print the token alone (default) or JSON with jti, kid, exp
  --server URL         issue on a running jwtledger server instead (env
                       JWTLEDGER_SERVER), as the client whose secret is
                       --client-secret S (env JWTLEDGER_CLIENT_SECRET; with
                       --client-id ID, HTTP Basic); its ledger keeps the record
  --data-dir, --store, --issuer, --audit-jsonl, --text-log   see 'jwtledger help'

Registered claims in --claims-file or --claim follow rules, never silent
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
	run: runIssue,
}

func runIssue(ctx context.Context, c *cli, cmd *command, args []string) error {
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	var auds, claims stringList
	sub := fs.String("sub", "", "")
	fs.Var(&auds, "aud", "")
	ttl := fs.Duration("ttl", defaults.TTL, "")
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
		var out struct {
			Token     string    `json:"token"`
			JTI       string    `json:"jti"`
			KID       string    `json:"kid"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		body := map[string]any{}
		if *sub != "" {
			body["sub"] = *sub
		}
		if len(auds) > 0 {
			body["aud"] = []string(auds)
		}
		if ttlSet {
			body["ttl"] = ttl.String()
		}
		if req.Claims != nil {
			body["claims"] = req.Claims
		}
		if err := rf.call(ctx, "POST", "/v1/tokens", body, &out); err != nil {
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
