package jwtledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/token"
)

// FuzzPrepareIssue feeds arbitrary claims objects to the registered-claim
// rules: never a panic; a refusal is an invalid request in one line; what
// is accepted leaves only custom claims behind, and the token issued from
// it carries every one of them unchanged.
func FuzzPrepareIssue(f *testing.F) {
	for _, s := range []string{
		`{"sub":"u","aud":"api","exp":1795780200,"payload":{"user_id":1}}`,
		`{"iss":"jwtledger","iat":1795779600,"nbf":1795779000,"role":"x"}`,
		`{"aud":["a","b"],"exp":1795779600.5}`,
		`{"jti":"x"}`, `{"exp":"soon"}`, `{"a":1,"a":2}`, `[]`, `{"\u0065xp":1}`,
	} {
		f.Add([]byte(s))
	}
	l := openLedger(f)
	f.Fuzz(func(t *testing.T, obj []byte) {
		req := jwtledger.IssueRequest{ClaimsJSON: obj}
		err := l.PrepareIssue(&req)
		if err != nil {
			if !errors.Is(err, jwtledger.ErrInvalidRequest) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error %q", err)
			}
			return
		}
		custom := map[string]json.RawMessage{}
		if len(req.ClaimsJSON) > 0 {
			if err := json.Unmarshal(req.ClaimsJSON, &custom); err != nil {
				t.Fatalf("custom claims %q: %v", req.ClaimsJSON, err)
			}
		}
		for _, name := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"} {
			if _, ok := custom[name]; ok {
				t.Fatalf("registered claim %s left among %s", name, req.ClaimsJSON)
			}
		}
		iss, err := l.Issue(context.Background(), req)
		if err != nil {
			return // e.g. exp in the past: refused at issuance
		}
		tok, err := l.Verify(context.Background(), iss.Token, jwtledger.WithLeeway(time.Hour))
		if err != nil && token.OutcomeOf(err) != token.NotYetValid {
			t.Fatalf("own token refused: %v", err)
		}
		if tok == nil {
			t.Fatal("no token")
		}
		var got map[string]json.RawMessage
		json.Unmarshal(tok.Claims.Raw, &got)
		for name, v := range custom {
			g, _ := json.Marshal(got[name])
			w, _ := json.Marshal(v)
			if string(g) != string(w) {
				t.Fatalf("claim %s: %s in the token, %s asked for", name, g, w)
			}
		}
	})
}
