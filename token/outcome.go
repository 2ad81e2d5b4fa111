package token

import "errors"

// Outcome is the verdict of a verification.
type Outcome string

// The verification outcomes. Exactly one applies to every verification.
const (
	Valid            Outcome = "valid"
	Expired          Outcome = "expired"
	NotYetValid      Outcome = "not_yet_valid"
	InvalidSignature Outcome = "invalid_signature"
	Malformed        Outcome = "malformed"
	UnsupportedAlg   Outcome = "unsupported_alg"
	UnknownKey       Outcome = "unknown_key"
	InvalidClaims    Outcome = "invalid_claims"
	Revoked          Outcome = "revoked"
)

// Outcomes lists every outcome in a stable order.
var Outcomes = []Outcome{Valid, Expired, NotYetValid, InvalidSignature, Malformed, UnsupportedAlg, UnknownKey, InvalidClaims, Revoked}

// Sentinel errors, one per refusal outcome, for errors.Is.
var (
	ErrExpired          = errors.New("token expired")
	ErrNotYetValid      = errors.New("token not valid yet")
	ErrSignature        = errors.New("token signature invalid")
	ErrMalformed        = errors.New("token malformed")
	ErrUnsupportedAlg   = errors.New("token algorithm not accepted")
	ErrUnknownKey       = errors.New("token signing key unknown")
	ErrInvalidClaims    = errors.New("token claims invalid")
	ErrRevoked          = errors.New("token revoked")
	errUnknownOutcome   = errors.New("token refused")
	sentinelsByOutcomes = map[Outcome]error{
		Expired: ErrExpired, NotYetValid: ErrNotYetValid, InvalidSignature: ErrSignature,
		Malformed: ErrMalformed, UnsupportedAlg: ErrUnsupportedAlg, UnknownKey: ErrUnknownKey,
		InvalidClaims: ErrInvalidClaims, Revoked: ErrRevoked,
	}
)

// Error is a refused verification: its outcome and a human reason. The
// reason never contains the token or key material.
type Error struct {
	Outcome Outcome
	Reason  string
}

func (e *Error) Error() string { return string(e.Outcome) + ": " + e.Reason }

// Unwrap returns the outcome's sentinel, so errors.Is(err, ErrExpired) works.
func (e *Error) Unwrap() error {
	if s, ok := sentinelsByOutcomes[e.Outcome]; ok {
		return s
	}
	return errUnknownOutcome
}

// OutcomeOf returns the outcome a verification's error stands for: [Valid]
// for nil, and "" for an error that is not a verdict (such as a failure to
// record it, jwtledger.ErrAudit).
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Valid
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome
	}
	return ""
}
