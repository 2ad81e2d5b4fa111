package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/client"
	"github.com/jwtledger/jwtledger/internal/loadgen"
)

var benchCmd = &command{
	name:    "bench",
	summary: "load-test a running jwtledger server",
	doc: `Sends requests to a running jwtledger server (--server, as the client whose
secret is --client-secret) with --concurrency workers for --duration, then
prints requests/s and p50/p90/p99 latency. For verify and introspect it
first issues one token and then checks it over and over.
`,
	notes: `Exit status: 0 when the run stayed within --max-errors, 1 when more
requests failed (or none completed), 2 usage error.

Example:
  jwtledger bench --server http://127.0.0.1:8080 --client-secret "$SECRET" --op issue --concurrency 64 --duration 10s
`,
	flags: benchFlags,
}

func benchFlags(fs *flag.FlagSet) runFunc {
	rf := addRemoteFlags(fs)
	op := fs.String("op", "issue", "`OP`: issue, verify or introspect")
	conc := fs.Int("concurrency", 64, "`N` concurrent workers")
	dur := fs.Duration("duration", 10*time.Second, "how long `D` to run")
	output := fs.String("output", "text", "`text|json`")
	maxErrors := fs.String("max-errors", "1%", "exit 1 when more than this share `PERCENT` of the requests failed (0 tolerates none)")
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("bench: unexpected argument %q", pos[0])
		}
		hc := loadgen.NewClient(*conc)
		cl, err := client.New(rf.server, rf.id, rf.secret, hc)
		switch {
		case errors.Is(err, client.ErrURL):
			return usageErr("bench: --server must be an http(s) URL")
		case errors.Is(err, client.ErrSecret):
			return usageErr("bench: --client-secret is required")
		case err != nil:
			return usageErr("bench: %v", err)
		}
		if *conc < 1 || *dur <= 0 {
			return usageErr("bench: --concurrency and --duration must be positive")
		}
		if *output != "text" && *output != "json" {
			return usageErr("bench: --output must be text or json")
		}
		maxErrPct, err := strconv.ParseFloat(strings.TrimSuffix(*maxErrors, "%"), 64)
		if err != nil || maxErrPct < 0 || maxErrPct > 100 {
			return usageErr("bench: --max-errors must be a percentage from 0 to 100, such as 1%%")
		}
		// The requests are made ahead, the way loadgen sends them over and
		// over; the client lends its URLs and credentials.
		auth := cl.Authorize
		var req loadgen.Request
		switch *op {
		case "issue":
			req = func(ctx context.Context) (*http.Request, error) {
				r, err := http.NewRequestWithContext(ctx, "POST", cl.URL("/v1/tokens"), strings.NewReader(`{"sub":"bench"}`))
				if err == nil {
					r.Header.Set("Content-Type", "application/json")
					auth(r)
				}
				return r, err
			}
		case "verify", "introspect":
			iss, err := cl.Issue(ctx, api.IssueRequest{Sub: "bench"})
			if err != nil {
				return usageErr("bench: issue the token to %s: %v", *op, err)
			}
			if *op == "verify" {
				body, _ := json.Marshal(api.VerifyRequest{Token: iss.Token})
				req = func(ctx context.Context) (*http.Request, error) {
					r, err := http.NewRequestWithContext(ctx, "POST", cl.URL("/v1/tokens/verify"), bytes.NewReader(body))
					if err == nil {
						r.Header.Set("Content-Type", "application/json")
						auth(r)
					}
					return r, err
				}
			} else {
				form := url.Values{"token": {iss.Token}}.Encode()
				req = func(ctx context.Context) (*http.Request, error) {
					r, err := http.NewRequestWithContext(ctx, "POST", cl.URL("/oauth2/introspect"), strings.NewReader(form))
					if err == nil {
						r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						auth(r)
					}
					return r, err
				}
			}
		default:
			return usageErr("bench: --op must be issue, verify or introspect")
		}
		cfg := loadgen.Config{Concurrency: *conc, Duration: *dur, Client: hc, Request: req}
		if bar := c.progress(*op, false); bar != nil {
			cfg.Progress = func(done int64) { bar.update(done, -1) }
			defer bar.finish()
		}
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			return err
		}
		if *output == "json" {
			if err := writeJSON(c.stdout, struct {
				Op          string `json:"op"`
				Concurrency int    `json:"concurrency"`
				*loadgen.Result
			}{*op, *conc, res}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(c.stdout, "%s x%d: %s\n", *op, *conc, res)
			if res.FirstError != "" {
				fmt.Fprintf(c.stdout, "first error: %s\n", oneLine(res.FirstError))
			}
		}
		return benchVerdict(res, maxErrPct)

	}
}

// benchVerdict fails a run (exit 1) in which more than maxPct percent of
// the requests failed, or none was made.
func benchVerdict(res *loadgen.Result, maxPct float64) error {
	if res.Requests == 0 {
		return &exitError{code: exitRejected, err: errors.New("bench: no request completed")}
	}
	if pct := 100 * float64(res.Errors) / float64(res.Requests); pct > maxPct {
		return &exitError{code: exitRejected, err: fmt.Errorf("bench: %d of %d requests failed (%.1f%%, more than --max-errors %g%%)", res.Errors, res.Requests, pct, maxPct)}
	}
	return nil
}
