package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushEvery bounds how long an operational log line waits in serve's
// buffer.
const logFlushEvery = 100 * time.Millisecond

// logBuffer batches the writes of serve's operational log: under load serve
// logs a line per request, and a write system call per line cost about 2%
// of the server's CPU. Lines reach the underlying writer within
// logFlushEvery, when 32 KiB are waiting, and on Close. (The audit trail
// never goes through here: it is durable before any answer.)
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && b.w.Buffered() >= 32<<10 {
		err = b.w.Flush()
	}
	return n, err
}

func (b *logBuffer) run() {
	defer close(b.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.flush()
		}
	}
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w.Buffered() > 0 {
		b.w.Flush()
	}
}

// Close stops the timer and writes what is left.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.flush()
}
