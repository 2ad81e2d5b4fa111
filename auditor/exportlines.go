package auditor

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/sumdb/tlog"
)

// Sizes of the batches of [exportVerifier.jsonLines].
const (
	lineBatchLines = 512
	lineBatchBytes = 512 << 10
)

// What the decoding of one line of a JSONL export found.
const (
	lineBlank  = iota // white space only: the decoder skips it
	lineValue         // exactly one JSON value, decoded
	lineFailed        // one JSON value that does not decode into a line (the decoder's error too)
	lineOther         // not exactly one JSON value, or cut by a read error: left to the decoder
)

// lineBatch is a run of consecutive lines of an export, decoded and checked
// by a worker, then taken in order.
type lineBatch struct {
	raw     []byte
	ends    []int // end of each line in raw
	cut     bool  // the last line was cut short by a read error
	lines   []exportLine
	kinds   []uint8
	errs    []error
	checks  []rowCheck
	checked chan struct{}
}

func (b *lineBatch) reset() {
	clear(b.lines) // drop the decoded strings
	clear(b.errs)
	b.raw, b.ends, b.cut = b.raw[:0], b.ends[:0], false
	if cap(b.raw) > 4*lineBatchBytes {
		b.raw = make([]byte, 0, lineBatchBytes)
	}
}

// lineDecoder is a worker's state: a buffer for 0x00 || record, and the
// chain field of the chain it last saw.
type lineDecoder struct {
	buf        []byte
	chain      string
	chainField []byte
}

// decode decodes each line of b and checks each record line on its own.
func (d *lineDecoder) decode(b *lineBatch) {
	n := len(b.ends)
	b.lines = slices.Grow(b.lines[:0], n)[:n]
	b.kinds = slices.Grow(b.kinds[:0], n)[:n]
	b.errs = slices.Grow(b.errs[:0], n)[:n]
	b.checks = slices.Grow(b.checks[:0], n)[:n]
	start := 0
	for i, end := range b.ends {
		s := b.raw[start:end]
		start = end
		b.lines[i], b.errs[i], b.checks[i] = exportLine{}, nil, rowCheck{}
		if b.cut && i == n-1 {
			b.kinds[i] = lineOther
			continue
		}
		if len(bytes.TrimLeft(s, " \t\r\n")) == 0 {
			b.kinds[i] = lineBlank
			continue
		}
		// Unmarshal checks that s is exactly one value, which decodes as
		// json.Decoder would decode it from the stream.
		l := &b.lines[i]
		err := json.Unmarshal(s, l)
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			b.kinds[i] = lineOther
			continue
		case err != nil:
			b.kinds[i], b.errs[i] = lineFailed, err
			continue
		}
		b.kinds[i] = lineValue
		if l.Type != "record" {
			continue
		}
		if l.Record == nil {
			b.checks[i] = checkRow(l.Chain, nil, l.Seq, nil, l.LeafHash, tlog.Hash{})
			continue
		}
		if d.chainField == nil || l.Chain != d.chain {
			d.chain, d.chainField = l.Chain, chainField(l.Chain)
		}
		d.buf = append(append(d.buf[:0], 0x00), *l.Record...)
		b.checks[i] = checkRow(l.Chain, d.chainField, l.Seq, d.buf[1:], l.LeafHash, sha256.Sum256(d.buf))
	}
}

// errReader returns err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// jsonLines takes the lines of a JSONL export after its header, read from
// r, in order, with the work of each line on its own (decoding it, and a
// record's leaf hash and seq) spread over the cores: r is cut into lines
// on this goroutine, workers decode and check them, and one goroutine
// takes them in order. A line that is exactly one JSON value (with white
// space) decodes as json.Decoder decodes it in the stream; at the first
// line that is not (a value over several lines, two values on a line, bad
// JSON) or that a read error cut short, jsonLines stops and returns the
// input from that line on, for a json.Decoder to go on with as before.
// Memory is bounded by a fixed number of batches in flight.
func (e *exportVerifier) jsonLines(r io.Reader) (io.Reader, error) {
	workers := runtime.GOMAXPROCS(0)
	batches := 2*workers + 2
	free := make(chan *lineBatch, batches)
	for range batches {
		free <- &lineBatch{raw: make([]byte, 0, lineBatchBytes), ends: make([]int, 0, lineBatchLines), checked: make(chan struct{}, 1)}
	}
	work := make(chan *lineBatch, batches)
	order := make(chan *lineBatch, batches)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var d lineDecoder
			for b := range work {
				d.decode(b)
				b.checked <- struct{}{}
			}
		})
	}
	var (
		stop    atomic.Bool // the taker needs no more lines
		stopped bool        // at a line left to the decoder
		rest    []byte      // the input from that line on
		err     error
	)
	taken := make(chan struct{})
	go func() {
		defer close(taken)
		for b := range order {
			<-b.checked
			if stopped {
				rest = append(rest, b.raw...) // a batch after the stop
			}
			start := 0
			for i, end := range b.ends {
				if stopped || err != nil {
					break
				}
				switch b.kinds[i] {
				case lineOther:
					stopped = true
					stop.Store(true)
					rest = append(rest, b.raw[start:]...)
				case lineFailed:
					err = fmt.Errorf("read export: %w", b.errs[i])
				case lineValue:
					var chk *rowCheck
					if b.lines[i].Type == "record" {
						chk = &b.checks[i]
					}
					err = e.line(&b.lines[i], chk)
				}
				start = end
			}
			if err != nil {
				stop.Store(true)
			}
			b.reset()
			free <- b
		}
	}()
	lr := bufio.NewReaderSize(r, 1<<16)
	var rerr error
	cur := <-free
	send := func() {
		work <- cur
		order <- cur
		cur = <-free
	}
	for !stop.Load() {
		if len(cur.ends) >= lineBatchLines || len(cur.raw) >= lineBatchBytes {
			send()
		}
		start := len(cur.raw)
		line, err := lr.ReadSlice('\n')
		cur.raw = append(cur.raw, line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = lr.ReadSlice('\n')
			cur.raw = append(cur.raw, line...)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			cur.ends, cur.cut = append(cur.ends, len(cur.raw)), true
			rerr = err
			break
		}
		if len(cur.raw) > start {
			cur.ends = append(cur.ends, len(cur.raw))
		}
		if err != nil {
			rerr = err // io.EOF
			break
		}
	}
	if len(cur.ends) > 0 {
		work <- cur
		order <- cur
	}
	close(work)
	close(order)
	<-taken
	wg.Wait()
	switch {
	case err != nil:
		return nil, err
	case !stopped:
		return bytes.NewReader(nil), nil // every line taken, up to the end
	case rerr != nil && !errors.Is(rerr, io.EOF):
		return io.MultiReader(bytes.NewReader(rest), errReader{rerr}), nil
	default:
		return io.MultiReader(bytes.NewReader(rest), lr), nil
	}
}
