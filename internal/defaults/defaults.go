// Package defaults holds the default values the ledger gives to unset
// configuration, shared by the library (which documents them on its Config
// fields) and the jwtledger command (which shows them in its flag help).
package defaults

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Token lifetime and verification leeway.
const (
	TTL    = time.Hour
	Leeway = 30 * time.Second
)

// PrePublish is how long a scheduled key is published in the JWKS before it
// signs, so that verifiers caching the JWKS know it in time.
const PrePublish = 10 * time.Minute

// Denial limiter rates (records per second) and bursts.
const (
	DenialPerSource      = 1
	DenialPerSourceBurst = 5
	DenialTotal          = 5
	DenialTotalBurst     = 20
)

// ReadyInterval is how long a successful readiness probe is reused: the
// store gets at most one probe write per interval, however often the
// ledger's readiness is asked.
const ReadyInterval = time.Second

// DataDir returns $XDG_DATA_HOME/jwtledger or ~/.local/share/jwtledger.
func DataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jwtledger"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find data directory: %w (hint: set --data-dir or JWTLEDGER_DATA_DIR)", err)
	}
	return filepath.Join(home, ".local", "share", "jwtledger"), nil
}
