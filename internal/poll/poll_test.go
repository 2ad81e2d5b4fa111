package poll_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/poll"
)

func TestWithin(t *testing.T) {
	var n atomic.Int32
	for _, tt := range []struct {
		name string
		d    time.Duration
		cond func() bool
		ok   bool
	}{
		{"at once", time.Second, func() bool { return true }, true},
		{"after three checks", 5 * time.Second, func() bool { return n.Add(1) >= 3 }, true},
		{"never", 50 * time.Millisecond, func() bool { return false }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			took, ok := poll.Within(tt.d, tt.cond)
			if ok != tt.ok || (!ok && took < tt.d) || took > tt.d+time.Second {
				t.Fatalf("Within(%s) = %s, %v; want ok %v", tt.d, took, ok, tt.ok)
			}
		})
	}
	if n.Load() != 3 {
		t.Fatalf("cond checked %d times, want 3", n.Load())
	}
}
