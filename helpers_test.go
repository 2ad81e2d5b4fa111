package jwtledger_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// testSecret is a 32-byte HMAC secret for hand-made tokens.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// stepClock is a settable clock safe to read from the ledger's background
// goroutines (key schedule, checkpoints) while a test moves it.
type stepClock struct{ ns atomic.Int64 }

func newStepClock(t time.Time) *stepClock {
	c := &stepClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *stepClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *stepClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func openLedger(t testing.TB, mod ...func(*jwtledger.Config)) *jwtledger.Ledger {
	t.Helper()
	cfg := jwtledger.Config{DataDir: t.TempDir(), Now: func() time.Time { return testNow }}
	for _, m := range mod {
		m(&cfg)
	}
	l, err := jwtledger.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hs256 signs arbitrary header and payload text with testSecret.
func hs256(header, payload string) string {
	return hs256Segments(b64(header), b64(payload))
}

func hs256Segments(h, p string) string {
	mac := hmac.New(sha256.New, testSecret)
	mac.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func hmacKeys(t *testing.T) []*keys.Key {
	t.Helper()
	k, err := keys.NewHMAC(testSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	return []*keys.Key{k}
}

func dataFile(l *jwtledger.Ledger, name string) string { return filepath.Join(l.DataDir(), name) }
