package audit

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Range is a run of records of one batch whose commit failed after the
// store had numbered them: the store may hold them although their callers
// were told the event was not recorded (and so got no token or verdict).
type Range struct {
	First, Last         uint64
	FirstLeaf, LastLeaf [32]byte
	Cause               string
}

func rangeOf(recs []*Record, err error) (Range, bool) {
	if len(recs) == 0 || recs[0].Seq == 0 || recs[len(recs)-1].Seq == 0 {
		return Range{}, false
	}
	cause := err.Error()
	if len(cause) > 200 {
		cause = cause[:200] + "..."
	}
	return Range{First: recs[0].Seq, Last: recs[len(recs)-1].Seq,
		FirstLeaf: recs[0].LeafHash, LastLeaf: recs[len(recs)-1].LeafHash, Cause: cause}, true
}

// UndeliveredRecord is the record that says the records of r were not
// delivered: event audit.undelivered, outcome error, and the reason
//
//	undelivered seq FIRST..LAST: CAUSE
//
// (see [ParseUndelivered]). The records themselves keep their outcome (a
// record is never changed once appended); this one, later in the same
// chain, says their answers were errors and nothing was handed out.
func UndeliveredRecord(r Range, now time.Time) *Record {
	return &Record{Time: now.UTC(), Event: AuditUndelivered, Outcome: Error, Actor: "jwtledger",
		Reason: fmt.Sprintf("undelivered seq %d..%d: the commit could not be confirmed durable (%s); their callers got an error, no token or verdict was handed out", r.First, r.Last, r.Cause)}
}

// ParseUndelivered reads the seq range of an audit.undelivered record's
// reason.
func ParseUndelivered(reason string) (first, last uint64, ok bool) {
	rest, ok := strings.CutPrefix(reason, "undelivered seq ")
	if !ok {
		return 0, 0, false
	}
	span, _, ok := strings.Cut(rest, ":")
	a, b, ok2 := strings.Cut(span, "..")
	if !ok || !ok2 {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	return first, last, err1 == nil && err2 == nil && first <= last
}

// RecordReader is a [Store] that can read back what it holds, so that the
// writer can tell whether a batch whose commit failed is stored after all.
type RecordReader interface {
	// RecordBody is the canonical encoding of record seq of chain; an error
	// when there is none.
	RecordBody(ctx context.Context, chain string, seq int64) ([]byte, error)
	// TreeSize is the number of records of chain.
	TreeSize(ctx context.Context, chain string) (int64, error)
}

// present reports whether the store holds the records of r (decided is
// false when it could not be read).
func present(ctx context.Context, rr RecordReader, chain string, r Range) (yes, decided bool) {
	size, err := rr.TreeSize(ctx, chain)
	if err != nil {
		return false, false
	}
	if uint64(size) < r.First {
		return false, true
	}
	for _, p := range []struct {
		seq  uint64
		leaf [32]byte
	}{{r.First, r.FirstLeaf}, {r.Last, r.LastLeaf}} {
		body, err := rr.RecordBody(ctx, chain, int64(p.seq))
		if err != nil {
			if uint64(size) >= p.seq {
				return false, false // there but unreadable (or pruned): ask again later
			}
			return false, true
		}
		if h := LeafHash(body); !bytes.Equal(h[:], p.leaf[:]) {
			return false, true // other records took these numbers
		}
	}
	return true, true
}
