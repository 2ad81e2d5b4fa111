package clientauth

import (
	"encoding/json"
	"fmt"
	"time"
)

// Policy is a client's policy (jwtledger.ClientPolicy converts to it
// field for field).
type Policy struct {
	Audiences       []string
	MaxTTL          time.Duration
	Claims          []string
	TokenScopes     []string
	DefaultAudience string
}

// storedPolicy is a [Policy] as the store keeps it: the JSON of the HTTP
// API, with max_ttl a Go duration string ("15m0s").
type storedPolicy struct {
	Audiences       []string `json:"audiences,omitempty"`
	MaxTTL          string   `json:"max_ttl,omitempty"`
	Claims          []string `json:"claims,omitempty"`
	TokenScopes     []string `json:"token_scopes,omitempty"`
	DefaultAudience string   `json:"default_audience,omitempty"`
}

// EncodePolicy is p as the store keeps it.
func EncodePolicy(p Policy) []byte {
	sp := storedPolicy{Audiences: p.Audiences, Claims: p.Claims, TokenScopes: p.TokenScopes, DefaultAudience: p.DefaultAudience}
	if p.MaxTTL != 0 {
		sp.MaxTTL = p.MaxTTL.String()
	}
	b, _ := json.Marshal(sp)
	return b
}

// DecodePolicy reads a policy the store keeps.
func DecodePolicy(b []byte) (Policy, error) {
	var sp storedPolicy
	if err := json.Unmarshal(b, &sp); err != nil {
		return Policy{}, err
	}
	p := Policy{Audiences: sp.Audiences, Claims: sp.Claims, TokenScopes: sp.TokenScopes, DefaultAudience: sp.DefaultAudience}
	if sp.MaxTTL != "" {
		d, err := time.ParseDuration(sp.MaxTTL)
		if err != nil {
			return Policy{}, fmt.Errorf("max_ttl: %w", err)
		}
		p.MaxTTL = d
	}
	return p, nil
}

// ValidScopeToken reports whether s is a scope-token of RFC 6749 3.3.
func ValidScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
