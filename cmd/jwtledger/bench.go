package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
		u, err := url.Parse(rf.server)
		if rf.server == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErr("bench: --server must be an http(s) URL")
		}
		if rf.secret == "" {
			return usageErr("bench: --client-secret is required")
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
		base := strings.TrimSuffix(rf.server, "/")
		auth := func(r *http.Request) {
			if rf.id != "" {
				r.SetBasicAuth(rf.id, rf.secret)
			} else {
				r.Header.Set("Authorization", "Bearer "+rf.secret)
			}
		}
		client := loadgen.NewClient(*conc)
		var req loadgen.Request
		switch *op {
		case "issue":
			req = func(ctx context.Context) (*http.Request, error) {
				r, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/tokens", strings.NewReader(`{"sub":"bench"}`))
				if err == nil {
					r.Header.Set("Content-Type", "application/json")
					auth(r)
				}
				return r, err
			}
		case "verify", "introspect":
			tok, err := benchToken(ctx, client, base, auth)
			if err != nil {
				return usageErr("bench: issue the token to %s: %v", *op, err)
			}
			if *op == "verify" {
				body, _ := json.Marshal(map[string]string{"token": tok})
				req = func(ctx context.Context) (*http.Request, error) {
					r, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/tokens/verify", bytes.NewReader(body))
					if err == nil {
						r.Header.Set("Content-Type", "application/json")
						auth(r)
					}
					return r, err
				}
			} else {
				form := url.Values{"token": {tok}}.Encode()
				req = func(ctx context.Context) (*http.Request, error) {
					r, err := http.NewRequestWithContext(ctx, "POST", base+"/oauth2/introspect", strings.NewReader(form))
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
		cfg := loadgen.Config{Concurrency: *conc, Duration: *dur, Client: client, Request: req}
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

func benchToken(ctx context.Context, client *http.Client, base string, auth func(*http.Request)) (string, error) {
	r, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/tokens", strings.NewReader(`{"sub":"bench"}`))
	if err != nil {
		return "", err
	}
	r.Header.Set("Content-Type", "application/json")
	auth(r)
	resp, err := client.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct{ Token string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || out.Token == "" {
		return "", fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return out.Token, nil
}
