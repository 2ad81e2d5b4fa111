package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/jwtledger/jwtledger/internal/jws"
)

var decodeCmd = &command{
	name:    "decode",
	summary: "show a token's header and claims WITHOUT verifying it",
	args:    "[TOKEN|-]",
	doc: `Prints the header and claims of a token as JSON, without checking its
signature or claims: the output says "verified": false, and a warning goes
to stderr. Use 'jwtledger verify' to decide whether to trust a token.
Nothing is recorded in the audit ledger.
`,
	notes: `Exit status: 0 decoded, 1 the token is malformed, 2 usage error.

Example:
  jwtledger decode "$TOKEN"
`,
	flags: func(fs *flag.FlagSet) runFunc { return runDecode },
}

func runDecode(ctx context.Context, c *cli, pos []string) error {
	raw, err := c.tokenArg("decode", pos)
	if err != nil {
		return err
	}
	tok, err := jws.Decode(raw)
	if err != nil {
		fmt.Fprintf(c.stdout, "%s\n", oneLine(err.Error()))
		return errRejected
	}
	fmt.Fprintln(c.stderr, "jwtledger: warning: decoded only; the signature and claims were NOT verified")
	return writeJSON(c.stdout, struct {
		Verified bool            `json:"verified"`
		Header   json.RawMessage `json:"header"`
		Claims   json.RawMessage `json:"claims"`
	}{false, tok.Header.Raw, tok.Claims.Raw})
}
