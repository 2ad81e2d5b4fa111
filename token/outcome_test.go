package token_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jwtledger/jwtledger/token"
)

// TestSentinels: every refusal outcome's error matches its own sentinel and
// no other, through wrapping, and OutcomeOf gives the outcome back.
func TestSentinels(t *testing.T) {
	sentinels := map[token.Outcome]error{
		token.Expired:          token.ErrExpired,
		token.NotYetValid:      token.ErrNotYetValid,
		token.InvalidSignature: token.ErrSignature,
		token.Malformed:        token.ErrMalformed,
		token.UnsupportedAlg:   token.ErrUnsupportedAlg,
		token.UnknownKey:       token.ErrUnknownKey,
		token.InvalidClaims:    token.ErrInvalidClaims,
		token.Revoked:          token.ErrRevoked,
	}
	if len(sentinels) != len(token.Outcomes)-1 {
		t.Fatalf("%d sentinels for %d refusal outcomes", len(sentinels), len(token.Outcomes)-1)
	}
	for _, o := range token.Outcomes {
		if o == token.Valid {
			continue
		}
		err := fmt.Errorf("verify: %w", &token.Error{Outcome: o, Reason: "why"})
		if got := token.OutcomeOf(err); got != o {
			t.Errorf("OutcomeOf(%v) = %q, want %q", err, got, o)
		}
		for other, s := range sentinels {
			if got := errors.Is(err, s); got != (other == o) {
				t.Errorf("errors.Is(%s error, sentinel of %s) = %v", o, other, got)
			}
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want token.Outcome
	}{
		{nil, token.Valid},
		{errors.New("audit trail unavailable"), ""},
		{&token.Error{Outcome: token.Expired, Reason: "token expired"}, token.Expired},
	} {
		if got := token.OutcomeOf(tt.err); got != tt.want {
			t.Errorf("OutcomeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if got := (&token.Error{Outcome: token.Revoked, Reason: "token 42 was revoked"}).Error(); got != "revoked: token 42 was revoked" {
		t.Errorf("Error() = %q", got)
	}
}
