package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jwtledger/jwtledger"
)

var clientsCmd = &command{
	name:    "clients",
	summary: "create, list, delete API clients; rotate their secrets",
	usage: `Usage: jwtledger clients <subcommand> [flags]

Subcommands:
  create --name N --scopes S[,S] [--audiences A,...] [--default-audience A]
         [--max-ttl D] [--claims C,...] [--token-scopes S,...] [--output text|json]
        Register a client. Its secret (256 bits) is printed once and stored
        only as a SHA-256 hash. Scopes: tokens:issue, tokens:verify,
        tokens:revoke, audit:read, admin. Policy: allowed audiences, the
        audience of its tokens when a request names none (one of the allowed
        ones; without it, access tokens from /oauth2/token name the issuer),
        longest token lifetime, allowed custom claims (none without --claims;
        --claims '*' allows any), and the scopes it may request at
        /oauth2/token (all of them when it asks for none).
  list [--output table|json]
  delete CLIENT_ID
  rotate-secret CLIENT_ID [--output text|json]

Examples:
  jwtledger clients create --name billing --scopes tokens:issue,tokens:verify --audiences api --max-ttl 15m
  jwtledger clients create --name svc --scopes tokens:verify --token-scopes orders:read --default-audience orders-api --output json
`,
	run: runClients,
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runClients(ctx context.Context, c *cli, cmd *command, args []string) error {
	sub, args, err := c.subcommand(cmd, args)
	if err != nil {
		return err
	}
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	name := fs.String("name", "", "")
	scopes := fs.String("scopes", "", "")
	auds := fs.String("audiences", "", "")
	defaultAud := fs.String("default-audience", "", "")
	maxTTL := fs.Duration("max-ttl", 0, "")
	claims := fs.String("claims", "", "")
	tokenScopes := fs.String("token-scopes", "", "")
	output := fs.String("output", "", "")
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	want := map[string]int{"create": 0, "list": 0, "delete": 1, "rotate-secret": 1}
	n, ok := want[sub]
	if !ok {
		return withHint(usageErr("clients: unknown subcommand %q", sub), "run 'jwtledger clients --help'")
	}
	if len(pos) != n {
		return usageErr("clients %s: expected %d argument(s), got %d", sub, n, len(pos))
	}
	l, err := c.open(ctx, lf)
	if err != nil {
		return err
	}
	defer l.Close()
	m := localMeta()
	switch sub {
	case "create":
		if *maxTTL < 0 {
			return usageErr("clients create: --max-ttl must not be negative")
		}
		creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: *name, Scopes: splitList(*scopes), Policy: jwtledger.ClientPolicy{
			Audiences: splitList(*auds), DefaultAudience: *defaultAud, MaxTTL: jwtledger.Duration(*maxTTL), Claims: splitList(*claims), TokenScopes: splitList(*tokenScopes)}}, m)
		if err != nil {
			return usageErr("clients create: %v", err)
		}
		return printCreds(c, creds, *output)
	case "list":
		cs, err := l.Clients(ctx)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(c.stdout, cs)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tSCOPES\tAUDIENCES\tMAX_TTL\tCREATED")
		for _, cl := range cs {
			ttl := "-"
			if cl.Policy.MaxTTL > 0 {
				ttl = time.Duration(cl.Policy.MaxTTL).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, safe(cl.Name), strings.Join(cl.Scopes, ","), safe(strings.Join(cl.Policy.Audiences, ",")), ttl, cl.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	case "delete":
		if err := l.DeleteClient(ctx, pos[0], m); err != nil {
			return usageErr("clients delete: %v", err)
		}
		fmt.Fprintf(c.stdout, "deleted client %s\n", pos[0])
		return nil
	default:
		creds, err := l.RotateClientSecret(ctx, pos[0], m)
		if err != nil {
			return usageErr("clients rotate-secret: %v", err)
		}
		return printCreds(c, creds, *output)
	}
}

func printCreds(c *cli, creds *jwtledger.ClientCredentials, output string) error {
	if output == "json" {
		return writeJSON(c.stdout, creds)
	}
	fmt.Fprintf(c.stdout, "client_id:     %s\nclient_secret: %s\n", creds.ID, creds.Secret)
	fmt.Fprintln(c.stderr, "jwtledger: store the secret now; it is not shown again")
	return nil
}
