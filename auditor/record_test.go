package auditor_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
)

// TestDecodeCanonicalOnly checks that Decode accepts exactly what Encode
// makes: one record has one encoding, so one leaf hash.
func TestDecodeCanonicalOnly(t *testing.T) {
	r := &auditor.Record{Seq: 7, Chain: "n1", Time: time.Unix(0, 1700000000123456789).UTC(), Event: "token.issue", Outcome: "ok",
		Reason: "a \"b\"\n\x01", Sub: "alice", Aud: []string{"api", ""}, Exp: time.Unix(1700003600, 0).UTC(), JTI: "j"}
	body := string(auditor.Encode(nil, r))
	if back, err := auditor.Decode([]byte(body)); err != nil || string(auditor.Encode(nil, back)) != body || back.LeafHash != auditor.LeafHash([]byte(body)) {
		t.Fatalf("Decode(%s) = %+v, %v", body, back, err)
	}
	tests := []struct {
		name, body string
	}{
		{"members out of order", `{"v":1,"seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok","sub":"a","reason":"r"}`},
		{"empty optional member", `{"v":1,"seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok","reason":""}`},
		{"needless escape", `{"v":1,"seq":7,"chain":"n\u0031","time":1,"event":"e","outcome":"ok"}`},
		{"escaped slash", `{"v":1,"seq":7,"chain":"a\/b","time":1,"event":"e","outcome":"ok"}`},
		{"raw control character", "{\"v\":1,\"seq\":7,\"chain\":\"a\x01\",\"time\":1,\"event\":\"e\",\"outcome\":\"ok\"}"},
		{"invalid UTF-8", "{\"v\":1,\"seq\":7,\"chain\":\"a\xff\",\"time\":1,\"event\":\"e\",\"outcome\":\"ok\"}"},
		{"leading zero", `{"v":1,"seq":07,"chain":"n1","time":1,"event":"e","outcome":"ok"}`},
		{"negative zero", `{"v":1,"seq":7,"chain":"n1","time":-0,"event":"e","outcome":"ok"}`},
		{"white space", `{"v":1, "seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok"}`},
		{"unknown member", `{"v":1,"seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok","x":"y"}`},
		{"other version", `{"v":2,"seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok"}`},
		{"empty aud", `{"v":1,"seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok","aud":[]}`},
		{"trailing data", `{"v":1,"seq":7,"chain":"n1","time":1,"event":"e","outcome":"ok"}x`},
		{"missing outcome", `{"v":1,"seq":7,"chain":"n1","time":1,"event":"e"}`},
		{"unterminated string", `{"v":1,"seq":7,"chain":"n1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := auditor.Decode([]byte(tt.body))
			if !errors.Is(err, auditor.ErrNotCanonical) {
				t.Fatalf("Decode(%q) = %+v, %v; want an error wrapping ErrNotCanonical", tt.body, r, err)
			}
		})
	}
}

// TestSealMatchesEncode checks that Seal normalizes, encodes and hashes in
// one step, as the stores need.
func TestSealMatchesEncode(t *testing.T) {
	r := &auditor.Record{Seq: 1, Chain: "n1", Time: time.Unix(5, 0), Event: "token.verify", Outcome: "valid", Sub: "bad \xff utf-8"}
	prefix := []byte("prefix")
	out := auditor.Seal(prefix, r)
	body := out[len(prefix):]
	if r.Sub != "bad \uFFFD utf-8" {
		t.Fatalf("Seal left Sub %q, want it normalized", r.Sub)
	}
	if string(body) != string(auditor.Encode(nil, r)) || r.LeafHash != auditor.LeafHash(body) {
		t.Fatalf("Seal wrote %s with leaf %x", body, r.LeafHash)
	}
}
