// Package poll waits for a condition by checking it again and again until
// a deadline: the tests' way to wait for what another process or
// goroutine does, instead of sleeping for a guessed time.
package poll

import "time"

// Interval is the time between two checks.
const Interval = 10 * time.Millisecond

// Within checks cond at once and then every Interval until it holds or d
// has passed; it returns how long it waited and whether cond held.
func Within(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	if cond() {
		return 0, true
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			// One last look: the condition may have come true meanwhile.
			return time.Since(start), cond()
		case <-tick.C:
			if cond() {
				return time.Since(start), true
			}
		}
	}
}
