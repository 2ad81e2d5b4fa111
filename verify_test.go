package jwtledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
)

const hsHeader = `{"alg":"HS256","typ":"JWT"}`

// claimsAt returns a claims JSON with exp relative to testNow.
func claimsAt(exp time.Duration, extra string) string {
	s := fmt.Sprintf(`{"sub":"alice","iss":"jwtledger","exp":%d`, testNow.Add(exp).Unix())
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func TestVerifyOutcomes(t *testing.T) {
	valid := hs256(hsHeader, claimsAt(time.Hour, ""))
	parts := strings.Split(valid, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name  string
		token string
		opts  []jwtledger.VerifyOption
		want  token.Outcome
	}{
		{name: "valid", token: valid, want: token.Valid},
		{name: "expired", token: hs256(hsHeader, claimsAt(-time.Hour, "")), want: token.Expired},
		{name: "expired within leeway", token: hs256(hsHeader, claimsAt(-10*time.Second, "")), want: token.Valid},
		{name: "expired without leeway", token: hs256(hsHeader, claimsAt(-10*time.Second, "")), opts: []jwtledger.VerifyOption{jwtledger.WithLeeway(0)}, want: token.Expired},
		{name: "exp zero is expired", token: hs256(hsHeader, `{"sub":"a","exp":0}`), want: token.Expired},
		{name: "exp fractional", token: hs256(hsHeader, fmt.Sprintf(`{"exp":%d.5}`, testNow.Unix()+100)), want: token.Valid},
		{name: "exp missing", token: hs256(hsHeader, `{"sub":"a"}`), want: token.InvalidClaims},
		{name: "exp missing allowed", token: hs256(hsHeader, `{"sub":"a"}`), opts: []jwtledger.VerifyOption{jwtledger.WithExpirationRequired(false)}, want: token.Valid},
		{name: "exp string", token: hs256(hsHeader, `{"exp":"9999999999"}`), want: token.InvalidClaims},
		{name: "exp null", token: hs256(hsHeader, `{"exp":null}`), want: token.InvalidClaims},
		{name: "exp huge", token: hs256(hsHeader, `{"exp":1e400}`), want: token.InvalidClaims},
		{name: "exp beyond 9999", token: hs256(hsHeader, `{"exp":1e15}`), want: token.InvalidClaims},
		{name: "nbf future", token: hs256(hsHeader, claimsAt(time.Hour, fmt.Sprintf(`"nbf":%d`, testNow.Add(time.Minute).Unix()))), want: token.NotYetValid},
		{name: "nbf within leeway", token: hs256(hsHeader, claimsAt(time.Hour, fmt.Sprintf(`"nbf":%d`, testNow.Add(10*time.Second).Unix()))), want: token.Valid},
		{name: "iat future", token: hs256(hsHeader, claimsAt(time.Hour, fmt.Sprintf(`"iat":%d`, testNow.Add(time.Hour).Unix()))), want: token.NotYetValid},
		{name: "nbf string", token: hs256(hsHeader, claimsAt(time.Hour, `"nbf":"0"`)), want: token.InvalidClaims},
		{name: "iss mismatch", token: valid, opts: []jwtledger.VerifyOption{jwtledger.WithIssuer("other")}, want: token.InvalidClaims},
		{name: "iss match", token: valid, opts: []jwtledger.VerifyOption{jwtledger.WithIssuer("jwtledger")}, want: token.Valid},
		{name: "aud missing", token: valid, opts: []jwtledger.VerifyOption{jwtledger.WithAudience("api")}, want: token.InvalidClaims},
		{name: "aud in list", token: hs256(hsHeader, claimsAt(time.Hour, `"aud":["x","api"]`)), opts: []jwtledger.VerifyOption{jwtledger.WithAudience("api")}, want: token.Valid},
		{name: "aud string", token: hs256(hsHeader, claimsAt(time.Hour, `"aud":"api"`)), opts: []jwtledger.VerifyOption{jwtledger.WithAudience("api")}, want: token.Valid},
		{name: "aud number", token: hs256(hsHeader, claimsAt(time.Hour, `"aud":5`)), want: token.InvalidClaims},
		{name: "aud list with number", token: hs256(hsHeader, claimsAt(time.Hour, `"aud":["a",5]`)), want: token.InvalidClaims},
		{name: "sub not string", token: hs256(hsHeader, `{"sub":5,"exp":9999999999}`), want: token.InvalidClaims},
		{name: "tampered payload", token: parts[0] + "." + flip(parts[1], 5) + "." + parts[2], want: token.InvalidSignature},
		{name: "tampered signature", token: parts[0] + "." + parts[1] + "." + flip(parts[2], 3), want: token.InvalidSignature},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", want: token.InvalidSignature},
		{name: "forged expired token is invalid_signature", token: hs256Segments(parts[0], b64(claimsAt(-time.Hour, "")))[:len(valid)-3] + "AAA", want: token.InvalidSignature},
		{name: "alg none", token: b64(`{"alg":"none"}`) + "." + b64(claimsAt(time.Hour, "")) + ".", want: token.UnsupportedAlg},
		{name: "alg None", token: b64(`{"alg":"None"}`) + "." + b64(claimsAt(time.Hour, "")) + ".", want: token.UnsupportedAlg},
		{name: "alg unknown", token: hs256(`{"alg":"HS1024"}`, claimsAt(time.Hour, "")), want: token.UnsupportedAlg},
		{name: "alg of another family", token: hs256(`{"alg":"RS256"}`, claimsAt(time.Hour, "")), want: token.UnsupportedAlg},
		{name: "alg HS512 too strong for 32-byte key", token: hs256(`{"alg":"HS512"}`, claimsAt(time.Hour, "")), want: token.UnsupportedAlg},
		{name: "alg not allowed", token: valid, opts: []jwtledger.VerifyOption{jwtledger.WithAlgorithms("HS384")}, want: token.UnsupportedAlg},
		{name: "alg missing", token: hs256(`{"typ":"JWT"}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "alg not string", token: hs256(`{"alg":1}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "crit", token: hs256(`{"alg":"HS256","crit":["exp"],"exp":1}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "crit empty", token: hs256(`{"alg":"HS256","crit":[]}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "crit malformed", token: hs256(`{"alg":"HS256","crit":"b64"}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "b64 false", token: hs256(`{"alg":"HS256","b64":false,"crit":["b64"]}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "b64 false without crit", token: hs256(`{"alg":"HS256","b64":false}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "zip", token: hs256(`{"alg":"HS256","zip":"DEF"}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "duplicate header name", token: hs256(`{"alg":"HS256","alg":"none"}`, claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "duplicate claim", token: hs256(hsHeader, `{"exp":9999999999,"exp":1}`), want: token.Malformed},
		{name: "duplicate claim via escape", token: hs256(hsHeader, `{"exp":9999999999,"\u0065xp":1}`), want: token.Malformed},
		{name: "duplicate nested name", token: hs256(hsHeader, claimsAt(time.Hour, `"x":{"a":1,"a":2}`)), want: token.Malformed},
		{name: "payload null", token: hs256(hsHeader, `null`), want: token.Malformed},
		{name: "payload array", token: hs256(hsHeader, `[{"exp":9999999999}]`), want: token.Malformed},
		{name: "payload string", token: hs256(hsHeader, `"x"`), want: token.Malformed},
		{name: "payload nested JWS", token: hs256(hsHeader, valid), want: token.Malformed},
		{name: "payload trailing data", token: hs256(hsHeader, claimsAt(time.Hour, "")+`{}`), want: token.Malformed},
		{name: "payload trailing white space", token: hs256(hsHeader, claimsAt(time.Hour, "")+" \n"), want: token.Valid},
		{name: "payload invalid UTF-8", token: hs256(hsHeader, claimsAt(time.Hour, "\"x\":\"\xff\"")), want: token.Malformed},
		{name: "payload lone surrogate", token: hs256(hsHeader, claimsAt(time.Hour, `"x":"\ud800"`)), want: token.Malformed},
		{name: "payload control character", token: hs256(hsHeader, claimsAt(time.Hour, "\"x\":\"a\x01\"")), want: token.Malformed},
		{name: "payload deep nesting", token: hs256(hsHeader, claimsAt(time.Hour, `"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100))), want: token.Malformed},
		{name: "payload empty", token: hs256Segments(parts[0], ""), want: token.Malformed},
		{name: "header not JSON", token: hs256("nope", claimsAt(time.Hour, "")), want: token.Malformed},
		{name: "header empty", token: "." + parts[1] + "." + parts[2], want: token.Malformed},
		{name: "garbage", token: "not a token", want: token.Malformed},
		{name: "empty", token: "", want: token.Malformed},
		{name: "two parts", token: parts[0] + "." + parts[1], want: token.Malformed},
		{name: "four parts", token: valid + ".x", want: token.Malformed},
		{name: "JWE shape", token: "a.b.c.d.e", want: token.Malformed},
		{name: "padding", token: parts[0] + "." + parts[1] + "." + parts[2] + "=", want: token.Malformed},
		{name: "padded header", token: b64(hsHeader) + "==." + parts[1] + "." + parts[2], want: token.Malformed},
		{name: "standard base64 alphabet", token: strings.ReplaceAll(parts[0], "J", "+") + "." + parts[1] + "." + parts[2], want: token.Malformed},
		{name: "newline inside", token: parts[0] + "." + parts[1][:4] + "\n" + parts[1][4:] + "." + parts[2], want: token.Malformed},
		{name: "trailing newline", token: valid + "\n", want: token.Malformed},
		{name: "leading space", token: " " + valid, want: token.Malformed},
		{name: "non-zero trailing bits", token: parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "x", want: token.Malformed},
		{name: "too large", token: hs256(hsHeader, claimsAt(time.Hour, `"pad":"`+strings.Repeat("a", 70000)+`"`)), want: token.Malformed},
		{name: "unknown kid", token: hs256(`{"alg":"HS256","kid":"nope"}`, claimsAt(time.Hour, "")), want: token.Valid}, // a raw secret has no kid of its own
	}
	l := openLedger(t)
	ks := hmacKeys(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]jwtledger.VerifyOption{jwtledger.WithKeys(ks...)}, tt.opts...)
			tok, err := l.Verify(context.Background(), tt.token, opts...)
			if got := token.OutcomeOf(err); got != tt.want {
				t.Fatalf("token %.80q: outcome %q (%v), want %q", tt.token, got, err, tt.want)
			}
			if tt.want == token.Valid && (tok == nil || tok.Key == nil) {
				t.Fatalf("valid token without key: %+v", tok)
			}
			var ve *token.Error
			if err != nil && (!errors.As(err, &ve) || ve.Reason == "") {
				t.Fatalf("refusal without a reason: %v", err)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) && len(tt.token) > 10 {
				t.Fatalf("error message contains the token: %v", err)
			}
		})
	}
}

func TestVerifySentinels(t *testing.T) {
	l := openLedger(t)
	ks := hmacKeys(t)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{name: "expired", token: hs256(hsHeader, claimsAt(-time.Hour, "")), want: token.ErrExpired},
		{name: "signature", token: hs256(hsHeader, claimsAt(time.Hour, ""))[:40] + "x.y", want: token.ErrMalformed},
		{name: "not yet", token: hs256(hsHeader, claimsAt(time.Hour, fmt.Sprintf(`"nbf":%d`, testNow.Unix()+3600))), want: token.ErrNotYetValid},
		{name: "alg", token: b64(`{"alg":"none"}`) + "." + b64(`{}`) + ".", want: token.ErrUnsupportedAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Verify(context.Background(), tt.token, jwtledger.WithKeys(ks...))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want errors.Is %v", err, tt.want)
			}
		})
	}
}

func TestVerifyKeySelection(t *testing.T) {
	l := openLedger(t)
	k1, _ := keys.Generate("ES256")
	k2, _ := keys.Generate("ES256")
	issued, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "a", Key: k2})
	if err != nil {
		t.Fatal(err)
	}
	pub2, _ := k2.PublicPEM()
	fromPEM, err := keys.Parse(pub2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  []*keys.Key
		want token.Outcome
	}{
		{name: "kid selects among generated keys", set: []*keys.Key{k1, k2}, want: token.Valid},
		{name: "kid names no key", set: []*keys.Key{k1}, want: token.UnknownKey},
		{name: "PEM key matches any kid", set: fromPEM, want: token.Valid},
		{name: "managed keys do not know it", set: nil, want: token.UnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []jwtledger.VerifyOption
			if tt.set != nil {
				opts = append(opts, jwtledger.WithKeys(tt.set...))
			}
			_, err := l.Verify(context.Background(), issued.Token, opts...)
			if got := token.OutcomeOf(err); got != tt.want {
				t.Fatalf("outcome %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}
