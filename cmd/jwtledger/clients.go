package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/api"
)

var clientsCmd = &command{
	name:    "clients",
	summary: "create, list, delete API clients; rotate their secrets",
	doc: `API clients call a running server (serve) with a secret. Scopes:
tokens:issue, tokens:verify, tokens:revoke, audit:read, admin.
`,
	notes: `Examples:
  jwtledger clients create --name billing --scopes tokens:issue,tokens:verify --audiences api --max-ttl 15m
  jwtledger clients create --name svc --scopes tokens:verify --token-scopes orders:read --default-audience orders-api --output json
`,
	subs: []*command{
		{name: "create", summary: "Register a client. Its secret (256 bits) is printed once and stored only as a SHA-256 hash.", flags: clientsCreateFlags},
		{name: "list", summary: "List the clients, their scopes and policies.", flags: clientsListFlags},
		{name: "delete", args: "CLIENT_ID", summary: "Delete a client: its secret stops working at once.", flags: clientsDeleteFlags},
		{name: "rotate-secret", args: "CLIENT_ID", summary: "Give a client a new secret (printed once); the old one stops working.", flags: clientsRotateFlags},
	},
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

func clientsCreateFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	name := fs.String("name", "", "the client's `NAME`")
	scopes := fs.String("scopes", "", "its scopes `S[,S]`: tokens:issue, tokens:verify, tokens:revoke, audit:read, admin")
	auds := fs.String("audiences", "", "the audiences `A,...` its tokens may name (any without it)")
	defaultAud := fs.String("default-audience", "", "the audience `A` of its tokens when a request names none, one of --audiences (without it, access tokens from /oauth2/token name the issuer)")
	maxTTL := fs.Duration("max-ttl", 0, "the longest lifetime `D` of its tokens")
	claims := fs.String("claims", "", "the custom claims `C,...` it may set (none without it; '*' allows any)")
	tokenScopes := fs.String("token-scopes", "", "the scopes `S,...` it may request at /oauth2/token (all of them when it asks for none)")
	output := fs.String("output", "text", "`text|json`")
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := wantArgs("clients create", pos, 0); err != nil {
			return err
		}
		if *maxTTL < 0 {
			return usageErr("clients create: --max-ttl must not be negative")
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: *name, Scopes: splitList(*scopes), Policy: jwtledger.ClientPolicy{
			Audiences: splitList(*auds), DefaultAudience: *defaultAud, MaxTTL: *maxTTL, Claims: splitList(*claims), TokenScopes: splitList(*tokenScopes)}}, localMeta())
		if err != nil {
			return usageErr("clients create: %v", err)
		}
		return printCreds(c, creds, *output)
	}
}

func clientsListFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	output := fs.String("output", "table", "`table|json`")
	return onLedger("clients list", lf, 0, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		cs, err := l.Clients(ctx)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeJSON(c.stdout, api.Clients(cs))
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tSCOPES\tAUDIENCES\tMAX_TTL\tCREATED")
		for _, cl := range cs {
			ttl := "-"
			if cl.Policy.MaxTTL > 0 {
				ttl = cl.Policy.MaxTTL.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, safe(cl.Name), strings.Join(cl.Scopes, ","), safe(strings.Join(cl.Policy.Audiences, ",")), ttl, cl.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func clientsDeleteFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	return onLedger("clients delete", lf, 1, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		if err := l.DeleteClient(ctx, pos[0], localMeta()); err != nil {
			return usageErr("clients delete: %v", err)
		}
		fmt.Fprintf(c.stdout, "deleted client %s\n", pos[0])
		return nil
	})
}

func clientsRotateFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	output := fs.String("output", "text", "`text|json`")
	return onLedger("clients rotate-secret", lf, 1, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		creds, err := l.RotateClientSecret(ctx, pos[0], localMeta())
		if err != nil {
			return usageErr("clients rotate-secret: %v", err)
		}
		return printCreds(c, creds, *output)
	})
}

func printCreds(c *cli, creds *jwtledger.ClientCredentials, output string) error {
	if output == "json" {
		return writeJSON(c.stdout, creds)
	}
	fmt.Fprintf(c.stdout, "client_id:     %s\nclient_secret: %s\n", creds.ID, creds.Secret)
	fmt.Fprintln(c.stderr, "jwtledger: store the secret now; it is not shown again")
	return nil
}
