package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

// TestWireShape: the answers the server wrote as maps before they were
// these types encode to the same bytes (a map's members are sorted).
func TestWireShape(t *testing.T) {
	recs := []*trail.Record{{Seq: 1, Chain: "n", Time: time.Unix(1, 0).UTC(), Event: "token.issue", Outcome: "ok", JTI: "j<&>"}}
	for _, tt := range []struct {
		name      string
		typed, as any
	}{
		{"audit page", api.AuditPage{NextCursor: "7", Records: recs}, map[string]any{"records": recs, "next_cursor": "7"}},
		{"empty page", api.AuditPage{Records: []*trail.Record{}}, map[string]any{"records": []*trail.Record{}, "next_cursor": ""}},
		{"error", api.Error{Error: "invalid_request", Description: "a <b>"}, map[string]string{"error": "invalid_request", "error_description": "a <b>"}},
		{"client", api.ClientOf(&jwtledger.Client{ID: "cl_x", Name: "svc", Scopes: []string{"tokens:issue"}, Created: time.Unix(1, 0).UTC(),
			Policy: jwtledger.ClientPolicy{Audiences: []string{"api"}, MaxTTL: 15 * time.Minute, Claims: []string{"role"}}}),
			json.RawMessage(`{"client_id":"cl_x","name":"svc","scopes":["tokens:issue"],"policy":{"audiences":["api"],"max_ttl":"15m0s","claims":["role"]},"created":"1970-01-01T00:00:01Z"}`)},
	} {
		enc := func(v any) []byte {
			var b bytes.Buffer
			e := json.NewEncoder(&b)
			e.SetEscapeHTML(false)
			if err := e.Encode(v); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
		if got, want := enc(tt.typed), enc(tt.as); !bytes.Equal(got, want) {
			t.Errorf("%s: %s, want %s", tt.name, got, want)
		}
	}
}

// TestRequestBodies: a client's request leaves out what it does not set,
// and the server reads back what it set; aud is a string or a list.
func TestRequestBodies(t *testing.T) {
	b, _ := json.Marshal(api.IssueRequest{Sub: "alice"})
	if string(b) != `{"sub":"alice"}` {
		t.Errorf("issue request %s", b)
	}
	lw := api.Duration(30 * time.Second)
	b, _ = json.Marshal(api.VerifyRequest{Token: "t", Leeway: &lw})
	if string(b) != `{"token":"t","leeway":"30s"}` {
		t.Errorf("verify request %s", b)
	}
	for body, want := range map[string]time.Duration{`{"max_ttl":"15m"}`: 15 * time.Minute, `{"max_ttl":90}`: 90 * time.Second, `{}`: 0} {
		var p api.ClientPolicy
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Policy().MaxTTL != want {
			t.Errorf("policy %s: max TTL %v, %v; want %v", body, p.Policy().MaxTTL, err, want)
		}
	}
	var p api.ClientPolicy
	if err := json.Unmarshal([]byte(`{"max_ttl":true}`), &p); err == nil {
		t.Error(`{"max_ttl":true} read without error`)
	}
	for _, tt := range []struct {
		body string
		aud  []string
		ok   bool
	}{
		{`{"aud":"api"}`, []string{"api"}, true},
		{`{"aud":["a","b"]}`, []string{"a", "b"}, true},
		{`{"aud":null}`, nil, true},
		{`{"aud":3}`, nil, false},
	} {
		var req api.IssueRequest
		err := json.Unmarshal([]byte(tt.body), &req)
		if (err == nil) != tt.ok || len(req.Aud) != len(tt.aud) || (len(tt.aud) > 0 && req.Aud[0] != tt.aud[0]) {
			t.Errorf("%s: aud %q, err %v", tt.body, req.Aud, err)
		}
	}
}

// TestVerdictShape pins the verdict every face writes: {} for what could
// not be read, the reason of a refusal, nothing else.
func TestVerdictShape(t *testing.T) {
	hdr := []byte(`{"alg":"HS256","typ":"JWT"}`)
	for _, tt := range []struct {
		name string
		tok  *token.Token
		err  error
		want string
	}{
		{"valid", &token.Token{Header: token.Header{Raw: hdr}, Claims: token.Claims{Raw: []byte(`{"sub":"a"}`)}}, nil,
			`{"valid":true,"outcome":"valid","reason":"","header":{"alg":"HS256","typ":"JWT"},"claims":{"sub":"a"}}`},
		{"refused after the signature", &token.Token{Header: token.Header{Raw: hdr}, Claims: token.Claims{Raw: []byte(`{"exp":1}`)}},
			&token.Error{Outcome: token.Expired, Reason: "token expired at 1970-01-01T00:00:01Z"},
			`{"valid":false,"outcome":"expired","reason":"token expired at 1970-01-01T00:00:01Z","header":{"alg":"HS256","typ":"JWT"},"claims":{"exp":1}}`},
		{"refused at the signature", &token.Token{Header: token.Header{Raw: hdr}}, &token.Error{Outcome: token.InvalidSignature, Reason: "HS256 signature does not match the key"},
			`{"valid":false,"outcome":"invalid_signature","reason":"HS256 signature does not match the key","header":{"alg":"HS256","typ":"JWT"},"claims":{}}`},
		{"unreadable", nil, fmt.Errorf("wrapped: %w", &token.Error{Outcome: token.Malformed, Reason: "token is empty"}),
			`{"valid":false,"outcome":"malformed","reason":"token is empty","header":{},"claims":{}}`},
	} {
		got, err := json.Marshal(api.NewVerdict(tt.tok, tt.err))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
