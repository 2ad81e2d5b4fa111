// Package client calls a running jwtledger server (jwtledger serve) for the
// CLI's --server: issue, verify and audit query, with the request and
// response bodies of package api, which the server uses too.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/trail"
)

// Client calls one server as one API client.
type Client struct {
	base       string // the server's URL, without a trailing slash
	id, secret string
	http       *http.Client
}

// Errors of New.
var (
	ErrURL    = errors.New("the server must be an http(s) URL")
	ErrSecret = errors.New("a client secret is needed")
)

// New returns a client of the server at baseURL. With an id the secret is
// sent as HTTP Basic credentials, without as a Bearer token. hc may be nil
// (then requests time out after 60 s).
func New(baseURL, id, secret string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ErrURL
	}
	if secret == "" {
		return nil, ErrSecret
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), id: id, secret: secret, http: hc}, nil
}

// Authorize sets the client's credentials on r.
func (c *Client) Authorize(r *http.Request) {
	if c.id != "" {
		r.SetBasicAuth(c.id, c.secret)
	} else {
		r.Header.Set("Authorization", "Bearer "+c.secret)
	}
}

// URL is the URL of path on the server.
func (c *Client) URL(path string) string { return c.base + path }

// Error is an answer of the server that is not a success.
type Error struct {
	Status int       // HTTP status
	Body   api.Error // the server's error and error_description
}

func (e *Error) Error() string {
	return fmt.Sprintf("server: %s: %s", e.Body.Error, e.Body.Description)
}

// UnavailableError is a request that got no answer.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "server unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// AnswerError is an answer that is not what the route returns.
type AnswerError struct{ Err error }

func (e *AnswerError) Error() string { return "unexpected answer from the server: " + e.Err.Error() }
func (e *AnswerError) Unwrap() error { return e.Err }

// maxAnswer bounds the size of an answer read.
const maxAnswer = 64 << 20

// call sends a JSON request (body may be nil) and decodes the JSON answer
// into out.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL(path), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.Authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return &UnavailableError{err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &AnswerError{err}
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		json.Unmarshal(data, &e.Body)
		if e.Body.Error == "" {
			e.Body.Error = resp.Status
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &AnswerError{err}
		}
	}
	return nil
}

// Issue issues a token (POST /v1/tokens).
func (c *Client) Issue(ctx context.Context, req api.IssueRequest) (*api.IssueResponse, error) {
	var out api.IssueResponse
	if err := c.call(ctx, "POST", "/v1/tokens", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Verify verifies a token with the server's keys (POST /v1/tokens/verify).
func (c *Client) Verify(ctx context.Context, req api.VerifyRequest) (*api.Verdict, error) {
	var v api.Verdict
	if err := c.call(ctx, "POST", "/v1/tokens/verify", req, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// pageSize is the largest page GET /v1/audit returns.
const pageSize = 1000

// Audit returns the records matching f (GET /v1/audit), oldest first,
// reading page after page; f.Limit bounds them (0: all). f.Newest and
// f.After are not sent.
func (c *Client) Audit(ctx context.Context, f trail.Filter) ([]*trail.Record, error) {
	q := url.Values{}
	for k, v := range map[string]string{"event": string(f.Event), "outcome": f.Outcome, "sub": f.Sub, "jti": f.JTI, "actor": f.Actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	var out []*trail.Record
	for {
		page := pageSize
		if f.Limit > 0 {
			page = min(page, f.Limit-len(out))
		}
		q.Set("limit", strconv.Itoa(page))
		var resp api.AuditPage
		if err := c.call(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &resp); err != nil {
			return nil, err
		}
		out = append(out, resp.Records...)
		if resp.NextCursor == "" || (f.Limit > 0 && len(out) >= f.Limit) {
			return out, nil
		}
		q.Set("cursor", resp.NextCursor)
	}
}
