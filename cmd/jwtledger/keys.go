package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jwtledger/jwtledger"
)

var keysCmd = &command{
	name:    "keys",
	summary: "generate, list, rotate, import, retire keys; print the JWKS",
	usage: `Usage: jwtledger keys <subcommand> [flags]

Subcommands:
  generate --alg ALG [--out FILE] [--format pem|jwk]
        Generate a key pair into FILE (mode 0600; stdout without --out),
        outside the ledger. HMAC keys are written as JWK (kty "oct").
  list [--output table|json]
        List the managed keys and their states.
  rotate [--alg ALG]
        Make a new active key; the previous active key stays verify-only so
        the tokens it signed keep verifying until they expire.
  import FILE [--state verify-only|active] [--kid KID] [--alg ALG]
        Add a private key (PEM, JWK or JWKS) to the managed keys.
  retire KID
        Stop a key from signing and verifying; it stays on record.
  jwks
        Print the public JWK Set of the active and verify-only keys.

Managed private keys are encrypted at rest (AES-256-GCM) under the master
key: JWTLEDGER_MASTER_KEY, or master.key in the data directory.

Examples:
  jwtledger keys list
  jwtledger keys rotate --alg EdDSA
  jwtledger keys generate --alg RS256 --out rsa.pem
  jwtledger keys jwks > jwks.json
`,
	run: runKeys,
}

func runKeys(ctx context.Context, c *cli, cmd *command, args []string) error {
	sub, args, err := c.subcommand(cmd, args)
	if err != nil {
		return err
	}
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	algName := fs.String("alg", "", "")
	output := fs.String("output", "table", "")
	out := fs.String("out", "", "")
	format := fs.String("format", "pem", "")
	state := fs.String("state", string(jwtledger.KeyVerifyOnly), "")
	kid := fs.String("kid", "", "")
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	var alg jwtledger.Alg
	if *algName != "" {
		if alg, err = jwtledger.ParseAlg(*algName); err != nil {
			return usageErr("keys %s: --alg: %v", sub, err)
		}
	}
	wantArgs := map[string]int{"generate": 0, "list": 0, "rotate": 0, "jwks": 0, "import": 1, "retire": 1}
	n, ok := wantArgs[sub]
	if !ok {
		return withHint(usageErr("keys: unknown subcommand %q", sub), "run 'jwtledger keys --help'")
	}
	if len(pos) != n {
		return usageErr("keys %s: expected %d argument(s), got %d", sub, n, len(pos))
	}
	if sub == "generate" {
		return c.generateKey(alg, *out, *format)
	}
	l, err := c.open(ctx, lf)
	if err != nil {
		return err
	}
	defer l.Close()
	switch sub {
	case "list":
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
	case "rotate":
		if alg.Family() == 1 { // HMAC
			fmt.Fprintf(c.stderr, "jwtledger: warning: an %s key cannot be published in the JWKS, so no relying party can verify the tokens it signs; serve refuses to sign with it unless started with --allow-hmac-signing\n", alg)
		}
		info, err := l.RotateKey(ctx, alg, localMeta())
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "active key: %s (%s); previous keys are verify-only\n", info.KID, info.Alg)
		return nil
	case "import":
		ks, err := c.loadKeys(pos[0])
		if err != nil {
			return err
		}
		var k *jwtledger.Key
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
		if st == jwtledger.KeyActive && k.Family() == 1 {
			fmt.Fprintf(c.stderr, "jwtledger: warning: an active HMAC key cannot be published in the JWKS, so no relying party can verify the tokens it signs; serve refuses to sign with it unless started with --allow-hmac-signing\n")
		}
		info, err := l.ImportKey(ctx, k, st, localMeta())
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "imported key: %s (%s, %s)\n", info.KID, info.Alg, info.State)
		return nil
	case "retire":
		if err := l.RetireKey(ctx, pos[0], localMeta()); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "retired key: %s\n", pos[0])
		return nil
	default: // jwks
		j, err := l.JWKS(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", j)
		return err
	}
}

func parseKeyState(s string) (jwtledger.KeyState, error) {
	switch jwtledger.KeyState(s) {
	case jwtledger.KeyActive, jwtledger.KeyVerifyOnly:
		return jwtledger.KeyState(s), nil
	}
	return "", usageErr("--state must be active or verify-only, not %q", s)
}

func (c *cli) generateKey(alg jwtledger.Alg, out, format string) error {
	if alg == "" {
		return usageErr("keys generate: --alg is required (for example ES256, EdDSA, RS256, HS256)")
	}
	if format != "pem" && format != "jwk" {
		return usageErr("keys generate: --format must be pem or jwk")
	}
	k, err := jwtledger.GenerateKey(alg)
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
