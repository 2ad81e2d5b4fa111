package audit

import (
	"sync"
	"sync/atomic"
)

// notifier wakes subscribers after records became durable. A wake-up is a
// value on a channel of capacity one, sent without blocking: wake-ups that
// find the channel full merge into the pending one, so a slow subscriber
// never holds up the committer, and a subscriber learns that there is
// something new, not what (it reads the store after its last record).
type notifier struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	n    atomic.Int32 // len(subs), read without the lock when nobody listens
}

// Subscribe returns a channel that receives a value after records are made
// durable (appended by [Writer.Append] or handed to [Writer.Emit]), and a
// function that ends the subscription. Wake-ups are coalesced.
func (w *Writer) Subscribe() (wake <-chan struct{}, cancel func()) {
	c := make(chan struct{}, 1)
	nt := &w.notify
	nt.mu.Lock()
	if nt.subs == nil {
		nt.subs = make(map[chan struct{}]struct{})
	}
	nt.subs[c] = struct{}{}
	nt.n.Store(int32(len(nt.subs)))
	nt.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			nt.mu.Lock()
			delete(nt.subs, c)
			nt.n.Store(int32(len(nt.subs)))
			nt.mu.Unlock()
		})
	}
}

// wake tells every subscriber that records were made durable.
func (nt *notifier) wake() {
	if nt.n.Load() == 0 {
		return
	}
	nt.mu.Lock()
	defer nt.mu.Unlock()
	for c := range nt.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
