package main

import (
	"errors"
	"flag"

	"github.com/jwtledger/jwtledger/internal/client"
)

// remoteFlags are the flags that send a command to a running server.
type remoteFlags struct {
	server, id, secret string
}

func addRemoteFlags(fs *flag.FlagSet) *remoteFlags {
	r := &remoteFlags{}
	fs.StringVar(&r.server, "server", "", "send the command to the jwtledger server at `URL`; its ledger keeps the record")
	fs.StringVar(&r.id, "client-id", "", "client `ID` for --server: with it the secret goes as HTTP Basic credentials, without as a Bearer token")
	fs.StringVar(&r.secret, "client-secret", "", "client `SECRET` for --server")
	return r
}

func (r *remoteFlags) on() bool { return r.server != "" }

// client is the client of --server.
func (r *remoteFlags) client() (*client.Client, error) {
	cl, err := client.New(r.server, r.id, r.secret, nil)
	switch {
	case errors.Is(err, client.ErrURL):
		return nil, usageErr("--server must be an http(s) URL")
	case errors.Is(err, client.ErrSecret):
		return nil, withHint(usageErr("--server needs --client-secret"), "or set JWTLEDGER_CLIENT_SECRET")
	case err != nil:
		return nil, usageErr("--server: %v", err)
	}
	return cl, nil
}

// remoteErr turns an error of the client into the CLI's: one line, exit 2.
func remoteErr(err error) error {
	var unavailable *client.UnavailableError
	if errors.As(err, &unavailable) {
		return withHint(usageErr("%v", err), "check --server (JWTLEDGER_SERVER)")
	}
	return usageErr("%v", err)
}
