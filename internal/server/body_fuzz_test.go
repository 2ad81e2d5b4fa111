package server

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzTokenOnly checks the verify body fast path against the full decoder:
// whatever it accepts, the decoder must accept too, with the same token and
// no other member set.
func FuzzTokenOnly(f *testing.F) {
	for _, s := range []string{
		`{"token":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"}`,
		" {\n\"token\" : \"a.b.c\" } ",
		`{"token":"a.b.c","aud":"x"}`,
		`{"token":""}`,
		`{"token":"a\u002eb"}`,
		`{"token":"a.b.c"}x`,
		`{"Token":"a.b.c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var tok string
		if !tokenOnly(body, &tok) {
			return
		}
		var req verifyRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := decodeJSON(dec, &req); err != nil {
			t.Fatalf("fast path accepted %q, the decoder refused it: %v", body, err)
		}
		if req != (verifyRequest{Token: tok}) {
			t.Fatalf("fast path read %q from %q, the decoder %+v", tok, body, req)
		}
	})
}

// BenchmarkVerifyBody compares the verify body fast path with the full
// decoder it stands in for, on a typical ES256 token.
func BenchmarkVerifyBody(b *testing.B) {
	body := []byte(`{"token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjFYcVZ1bEhkVHVQb3RuRlpSRzZOR3BOb2J6T0RsY2lEQ2Z6bVRKcG5RUVEiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTYwMDAwMDAsImlhdCI6MTc5NTk5NjQwMCwiaXNzIjoiaHR0cDovLzEyNy4wLjAuMTo4MDgwIiwianRpIjoiM2Y4YzJkOWE2YjFlNGQ3YThjNWYwZTJiOWQ0YTZjMWUiLCJuYmYiOjE3OTU5OTY0MDAsInN1YiI6ImJlbmNoIn0.MEUCIQDxJ7m0c3x9u1Qn6J8k3kq1v8Qm8Hn1q6W8yq6F9p3Z5gIgY2m0m7Yk8n1o2p3q4r5s6t7u8v9w0x1y2z3A4B5C6D7"}`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var req verifyRequest
			if !tokenOnly(body, &req.Token) {
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
