package auditlog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jwtledger/jwtledger/store"
)

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
