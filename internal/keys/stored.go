package keys

import (
	"time"
)

// Stored is a managed key as a store keeps it: public part in the clear,
// private part sealed under the master key (see [Seal]).
type Stored struct {
	KID     string
	Alg     Alg
	State   State
	Created time.Time
	Rotated time.Time // when it left the active state; zero while active
	// Activates is when a pre-published key becomes active; zero otherwise.
	Activates time.Time
	Public    []byte // public JWK; nil for HMAC keys
	Sealed    []byte
}
