package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/token"
)

// sameAsDecoder checks a body fast path against the full decoder: whatever
// it accepts, the decoder must read into the same request.
func sameAsDecoder[T any](t *testing.T, body []byte, fast func([]byte, *T) bool) {
	t.Helper()
	var got T
	if !fast(body, &got) {
		return
	}
	var want T
	if err := decodeJSON(json.NewDecoder(bytes.NewReader(body)), &want); err != nil {
		t.Fatalf("fast path accepted %q, the decoder refused it: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q: fast path %+v, decoder %+v", body, got, want)
	}
}

func FuzzVerifyBody(f *testing.F) {
	for _, s := range []string{
		`{"token":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"}`,
		" {\n\"token\" : \"a.b.c\" } ",
		`{"token":"a.b.c","aud":"x","iss":"y"}`,
		`{"token":""}`,
		`{"token":"a\u002eb"}`,
		`{"token":"a.b.c"}x`,
		`{"Token":"a.b.c"}`,
		`{"token":"a","leeway":"5s"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameAsDecoder(t, body, verifyFast) })
}

// BenchmarkVerifyBody compares the verify body fast path with the full
// decoder it stands in for, on a typical ES256 token.
func BenchmarkVerifyBody(b *testing.B) {
	body := []byte(`{"token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjFYcVZ1bEhkVHVQb3RuRlpSRzZOR3BOb2J6T0RsY2lEQ2Z6bVRKcG5RUVEiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTYwMDAwMDAsImlhdCI6MTc5NTk5NjQwMCwiaXNzIjoiaHR0cDovLzEyNy4wLjAuMTo4MDgwIiwianRpIjoiM2Y4YzJkOWE2YjFlNGQ3YThjNWYwZTJiOWQ0YTZjMWUiLCJuYmYiOjE3OTU5OTY0MDAsInN1YiI6ImJlbmNoIn0.MEUCIQDxJ7m0c3x9u1Qn6J8k3kq1v8Qm8Hn1q6W8yq6F9p3Z5gIgY2m0m7Yk8n1o2p3q4r5s6t7u8v9w0x1y2z3A4B5C6D7"}`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var req verifyRequest
			if !verifyFast(body, &req) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			var req verifyRequest
			if err := decodeJSON(json.NewDecoder(bytes.NewReader(body)), &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzAnswers checks the reflection-free answers of the issue and verify
// routes against encoding/json (what writeJSON sends): decoded, both must
// be the same JSON value.
func FuzzAnswers(f *testing.F) {
	f.Add(true, "valid", "", []byte(`{"alg":"ES256","kid":"k"}`), []byte(`{"sub":"a","aud":["x","y"],"n":1.5e3}`), "eyJ.e30.c2ln", "j1", int64(1796000000123456789))
	f.Add(false, "invalid_signature", "bad \"sig\" <&> \u2028 \x01", []byte(`{}`), []byte(`{"name":"J Smith","s":"a\"b\\"}`), "t", "", int64(0))
	f.Add(false, "malformed", "\xff", []byte(`{ "a" : 1 }`), []byte(`[1, 2]`), "", "\xfe", int64(-1))
	f.Fuzz(func(t *testing.T, valid bool, outcome, reason string, header, claims []byte, tok, jti string, ns int64) {
		if !json.Valid(header) || !json.Valid(claims) {
			return // the ledger hands over validated JSON only
		}
		v := api.Verdict{Valid: valid, Outcome: token.Outcome(outcome), Reason: reason, Header: header, Claims: claims}
		sameJSON(t, appendVerdict(nil, v), v)
		r := issueResponse{Token: tok, TokenType: "Bearer", ExpiresAt: time.Unix(0, ns).UTC(), JTI: jti, KID: reason}
		sameJSON(t, appendIssue(nil, r), r)
	})
}

// sameJSON fails unless fast decodes to what encoding/json makes of v.
func sameJSON(t *testing.T, fast []byte, v any) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	// Numbers are compared as written: claims may hold numbers beyond
	// float64 (1.5e3333 is valid JSON), which both encoders pass through.
	var a, b any
	dec := json.NewDecoder(bytes.NewReader(fast))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("fast answer %q is not JSON: %v", fast, err)
	}
	dec = json.NewDecoder(bytes.NewReader(want.Bytes()))
	dec.UseNumber()
	dec.Decode(&b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("fast answer %s, encoding/json %s", fast, want.Bytes())
	}
}

// BenchmarkAnswers compares the verify answer with writeJSON's encoding.
func BenchmarkAnswers(b *testing.B) {
	v := api.Verdict{Valid: true, Outcome: "valid", Header: []byte(`{"alg":"ES256","kid":"1XqVulHdTuPotnFZRG6NGpNobzODlciDCfzmTJpnQQQ","typ":"JWT"}`),
		Claims: []byte(`{"exp":1796000000,"iat":1795996400,"iss":"http://127.0.0.1:8080","jti":"3f8c2d9a6b1e4d7a8c5f0e2b9d4a6c1e","nbf":1795996400,"sub":"bench"}`)}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			appendVerdict(make([]byte, 0, 512), v)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(v)
		}
	})
}

func FuzzIssueBody(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice"}`,
		`{"sub":"alice","aud":"api","ttl":"10m"}`,
		`{"sub":"a\u00e9\n","aud":["x","y"],"ttl":90,"claims":{"role":"admin","n":[1,2]}}`,
		` { "claims" : { "a" : 1 } , "sub" : "" } `,
		`{"sub":"a","sub":"b"}`,
		`{"Sub":"a"}`,
		`{"aud":null}`,
		`{"ttl":"soon"}`,
		`{"claims":"x","x":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameAsDecoder(t, body, issueFast) })
}
