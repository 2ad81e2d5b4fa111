package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
)

var keysCmd = &command{
	name:    "keys",
	summary: "generate, list, rotate, import, retire keys; print the JWKS",
	doc: `Managed private keys are encrypted at rest (AES-256-GCM) under the master
key: JWTLEDGER_MASTER_KEY, or master.key in the data directory.
`,
	notes: `Examples:
  jwtledger keys list
  jwtledger keys rotate --alg EdDSA
  jwtledger keys generate --alg RS256 --out rsa.pem
  jwtledger keys jwks > jwks.json
`,
	subs: []*command{
		{name: "generate", summary: "Generate a key pair into --out (mode 0600; stdout without --out), outside the ledger. HMAC keys are written as JWK (kty \"oct\").", flags: keysGenerateFlags},
		{name: "list", summary: "List the managed keys and their states.", flags: keysListFlags},
		{name: "rotate", summary: "Make a new active key; the previous active key stays verify-only so the tokens it signed keep verifying until they expire.", flags: keysRotateFlags},
		{name: "import", args: "FILE", summary: "Add a private key (PEM, JWK or JWKS) to the managed keys.", flags: keysImportFlags},
		{name: "retire", args: "KID", summary: "Stop a key from signing and verifying; it stays on record.", flags: keysRetireFlags},
		{name: "jwks", summary: "Print the public JWK Set of the active and verify-only keys.", flags: keysJWKSFlags},
	},
}

// algFlag declares --alg of the keys subcommands; get parses it.
func algFlag(fs *flag.FlagSet, usage string) (get func(sub string) (keys.Alg, error)) {
	algName := fs.String("alg", "", usage)
	return func(sub string) (keys.Alg, error) {
		if *algName == "" {
			return "", nil
		}
		alg, err := keys.ParseAlg(*algName)
		if err != nil {
			return "", usageErr("keys %s: --alg: %v", sub, err)
		}
		return alg, nil
	}
}

func keysGenerateFlags(fs *flag.FlagSet) runFunc {
	alg := algFlag(fs, "algorithm `ALG` of the key (for example ES256, EdDSA, RS256, HS256)")
	out := fs.String("out", "", "write the key to the new `FILE` (mode 0600) instead of stdout")
	format := fs.String("format", "pem", "`pem|jwk`; HMAC keys are always written as JWK")
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := wantArgs("keys generate", pos, 0); err != nil {
			return err
		}
		a, err := alg("generate")
		if err != nil {
			return err
		}
		return c.generateKey(a, *out, *format)
	}
}

func keysListFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	output := fs.String("output", "table", "`table|json`")
	return onLedger("keys list", lf, 0, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		ks, err := l.Keys(ctx)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(c.stdout, ks)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tROTATED")
		for _, k := range ks {
			rot := "-"
			if !k.Rotated.IsZero() {
				rot = k.Rotated.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, k.Created.Format(time.RFC3339), rot)
		}
		return tw.Flush()
	})
}

func keysRotateFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	algOf := algFlag(fs, "algorithm `ALG` of the new key (default: that of the active key, ES256 for the first)")
	return onLedger("keys rotate", lf, 0, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		alg, err := algOf("rotate")
		if err != nil {
			return err
		}
		if alg.Family() == 1 { // HMAC
			fmt.Fprintf(c.stderr, "jwtledger: warning: an %s key %s\n", alg, hmacWarning)
		}
		info, err := l.RotateKey(ctx, alg, localMeta())
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "active key: %s (%s); previous keys are verify-only\n", info.KID, info.Alg)
		return nil
	})
}

func keysImportFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	algOf := algFlag(fs, "bind the key to the algorithm `ALG`")
	state := fs.String("state", string(keys.VerifyOnly), "the key's `verify-only|active` state")
	kid := fs.String("kid", "", "with several private keys in FILE: the `KID` of the one to import")
	return onLedger("keys import", lf, 1, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		alg, err := algOf("import")
		if err != nil {
			return err
		}
		ks, err := c.loadKeys(pos[0])
		if err != nil {
			return err
		}
		var k *keys.Key
		for _, cand := range ks {
			if cand.IsPrivate() && (*kid == "" || cand.KID == *kid) {
				if k != nil {
					return usageErr("keys import: %s holds several private keys; choose one with --kid", pos[0])
				}
				k = cand
			}
		}
		if k == nil {
			return usageErr("keys import: %s holds no (matching) private key", pos[0])
		}
		if alg != "" {
			if k, err = k.Bind(alg); err != nil {
				return usageErr("keys import: %v", err)
			}
		}
		st, err := parseKeyState(*state)
		if err != nil {
			return err
		}
		if st == keys.Active && k.Family() == 1 {
			fmt.Fprintf(c.stderr, "jwtledger: warning: an active HMAC key %s\n", hmacWarning)
		}
		info, err := l.ImportKey(ctx, k, st, localMeta())
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "imported key: %s (%s, %s)\n", info.KID, info.Alg, info.State)
		return nil
	})
}

func keysRetireFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	return onLedger("keys retire", lf, 1, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		if err := l.RetireKey(ctx, pos[0], localMeta()); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "retired key: %s\n", pos[0])
		return nil
	})
}

func keysJWKSFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	return onLedger("keys jwks", lf, 0, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		j, err := l.JWKS(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", j)
		return err
	})
}

// hmacWarning is why an active HMAC key is a warning.
const hmacWarning = "cannot be published in the JWKS, so no relying party can verify the tokens it signs; serve refuses to sign with it unless started with --allow-hmac-signing"

func parseKeyState(s string) (keys.State, error) {
	switch keys.State(s) {
	case keys.Active, keys.VerifyOnly:
		return keys.State(s), nil
	}
	return "", usageErr("--state must be active or verify-only, not %q", s)
}

func (c *cli) generateKey(alg keys.Alg, out, format string) error {
	if alg == "" {
		return usageErr("keys generate: --alg is required (for example ES256, EdDSA, RS256, HS256)")
	}
	if format != "pem" && format != "jwk" {
		return usageErr("keys generate: --format must be pem or jwk")
	}
	k, err := keys.Generate(alg)
	if err != nil {
		return err
	}
	var data []byte
	if format == "jwk" || alg.Family() == 1 { // HMAC secrets have no PEM form
		data, err = k.UnsafeExportPrivateJWK()
		data = append(data, '\n')
	} else {
		data, err = k.UnsafeExportPrivatePEM()
	}
	if err != nil {
		return err
	}
	if out == "" {
		_, err = c.stdout.Write(data)
	} else {
		err = writeFileExcl(out, data)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "generated %s key %s\n", alg, k.KID)
	return nil
}

// writeFileExcl writes a new file with mode 0600, refusing to overwrite.
func writeFileExcl(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return usageErr("%v", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
