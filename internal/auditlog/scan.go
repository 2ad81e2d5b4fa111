package auditlog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jwtledger/jwtledger/store"
)

// scanRow is one audit row copied out of the database for verification.
type scanRow struct {
	seq        int64
	body, leaf []byte // body nil: pruned
}

type scanChunk struct {
	rows  []scanRow
	arena []byte
}

// scanPipelined reads a chain's rows on this goroutine and hands them, in
// chunks, to process on another: reading (SQLite) and hashing overlap.
func scanPipelined(ctx context.Context, scan func(context.Context, string, func(int64, []byte, []byte) error) error, chain string, process func(seq int64, body, leaf []byte) error) error {
	const rowsPerChunk = 2048
	full := make(chan *scanChunk, 4)
	free := make(chan *scanChunk, 6)
	for range cap(free) {
		free <- &scanChunk{rows: make([]scanRow, 0, rowsPerChunk), arena: make([]byte, 0, rowsPerChunk*512)}
	}
	var procErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range full {
			for _, r := range c.rows {
				if procErr == nil {
					procErr = process(r.seq, r.body, r.leaf)
				}
			}
			c.rows, c.arena = c.rows[:0], c.arena[:0]
			free <- c
		}
	}()
	cur := <-free
	send := func() {
		full <- cur
		cur = <-free
	}
	scanErr := scan(ctx, chain, func(seq int64, body, leaf []byte) error {
		// Copy into the chunk's arena; slices into it stay valid because
		// the arena never grows past its capacity (a new chunk starts first).
		if len(cur.rows) == cap(cur.rows) || cap(cur.arena)-len(cur.arena) < len(body)+len(leaf) {
			if len(cur.rows) > 0 {
				send()
			}
			if need := len(body) + len(leaf); cap(cur.arena) < need {
				cur.arena = make([]byte, 0, need)
			}
		}
		r := scanRow{seq: seq}
		if body != nil {
			start := len(cur.arena)
			cur.arena = append(cur.arena, body...)
			r.body = cur.arena[start:len(cur.arena):len(cur.arena)]
		}
		start := len(cur.arena)
		cur.arena = append(cur.arena, leaf...)
		r.leaf = cur.arena[start:len(cur.arena):len(cur.arena)]
		cur.rows = append(cur.rows, r)
		return nil
	})
	if len(cur.rows) > 0 {
		full <- cur
	}
	close(full)
	<-done
	if scanErr != nil {
		return scanErr
	}
	return procErr
}

// readAround reads the records of chain after a damaged one at seq first,
// and says which seq ranges can be read and which cannot.
func readAround(ctx context.Context, d store.Damageable, chain string, first, size int64, cause error) string {
	readable := []string{}
	if first > 1 {
		readable = append(readable, fmt.Sprintf("1..%d", first-1))
	}
	unreadable := []string{}
	ok := d != nil
	from, gapStart := first, first
	for tries := 0; ok && from <= size && tries < 64; tries++ {
		var start, end int64
		err := d.ScanChainFrom(ctx, chain, from, func(seq int64, _, _ []byte) error {
			if start == 0 {
				start = seq
			}
			end = seq
			return nil
		})
		if start == 0 {
			// Nothing readable from here: jump further (1, 2, 4, ... on).
			from += max(1, from-gapStart+1)
			continue
		}
		if start > gapStart {
			unreadable = append(unreadable, fmt.Sprintf("%d..%d", gapStart, start-1))
		}
		readable = append(readable, fmt.Sprintf("%d..%d", start, end))
		if err == nil {
			gapStart = 0
			break
		}
		gapStart, from = end+1, end+2
	}
	if gapStart != 0 && gapStart <= size {
		unreadable = append(unreadable, fmt.Sprintf("%d..%d", gapStart, size))
	}
	return fmt.Sprintf("the database is damaged (%v): of the chain's %d records, seq %s can be read, seq %s cannot; restore the database from a backup, or keep this file for the readable records",
		cause, size, strings.Join(readable, ", "), strings.Join(unreadable, ", "))
}
