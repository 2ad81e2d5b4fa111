package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// remoteFlags are the flags that send a command to a running server.
type remoteFlags struct {
	server, id, secret string
}

func addRemoteFlags(fs *flag.FlagSet) *remoteFlags {
	r := &remoteFlags{}
	fs.StringVar(&r.server, "server", "", "send the command to this jwtledger server (env JWTLEDGER_SERVER)")
	fs.StringVar(&r.id, "client-id", "", "client id for --server (HTTP Basic)")
	fs.StringVar(&r.secret, "client-secret", "", "client secret for --server (env JWTLEDGER_CLIENT_SECRET)")
	return r
}

func (r *remoteFlags) on() bool { return r.server != "" }

// call sends a JSON request (body may be nil) and decodes a JSON answer
// into out; HTTP errors become one-line errors with the server's message.
func (r *remoteFlags) call(ctx context.Context, method, path string, body, out any) error {
	u, err := url.Parse(r.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("--server must be an http(s) URL")
	}
	if r.secret == "" {
		return withHint(usageErr("--server needs --client-secret"), "or set JWTLEDGER_CLIENT_SECRET")
	}
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.server, "/")+path, rd)
	if err != nil {
		return usageErr("%v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.id != "" {
		req.SetBasicAuth(r.id, r.secret)
	} else {
		req.Header.Set("Authorization", "Bearer "+r.secret)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return withHint(usageErr("server unavailable: %v", err), "check --server (JWTLEDGER_SERVER)")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return usageErr("read the server's answer: %v", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return usageErr("server: %s: %s", e.Error, e.Description)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return usageErr("unexpected answer from the server: %v", err)
		}
	}
	return nil
}

func formatQuery(v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}
