package jwtledger

import (
	"reflect"
	"testing"
	"time"
)

// TestStoredPolicy: a client policy is kept in the store as the JSON that
// ledgers wrote before ClientPolicy.MaxTTL became a time.Duration (max_ttl
// a Go duration string), byte for byte, and reads back as it was written.
func TestStoredPolicy(t *testing.T) {
	for _, tt := range []struct {
		stored string
		p      ClientPolicy
	}{
		{`{}`, ClientPolicy{}},
		{`{"audiences":["api","web"],"max_ttl":"15m0s","claims":["*"],"token_scopes":["read"],"default_audience":"api"}`,
			ClientPolicy{Audiences: []string{"api", "web"}, MaxTTL: 15 * time.Minute, Claims: []string{"*"}, TokenScopes: []string{"read"}, DefaultAudience: "api"}},
		{`{"max_ttl":"1h30m0s"}`, ClientPolicy{MaxTTL: 90 * time.Minute}},
	} {
		if got := encodePolicy(tt.p); string(got) != tt.stored {
			t.Errorf("encode %+v = %s, want %s", tt.p, got, tt.stored)
		}
		got, err := decodePolicy([]byte(tt.stored))
		if err != nil || !reflect.DeepEqual(got, tt.p) {
			t.Errorf("decode %s = %+v, %v; want %+v", tt.stored, got, err, tt.p)
		}
	}
	if _, err := decodePolicy([]byte(`{"max_ttl":"soon"}`)); err == nil {
		t.Error("a max_ttl that is no duration read without error")
	}
}
