package tables

import (
	"context"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// keeper is a CountKeeper over records in memory that logs what the
// counter asks of it.
type keeper struct {
	bodies map[string][][]byte // chain → bodies, seq i+1 at i
	marks  map[string]int64
	reads  [][2]int64 // (after, limit) of every RecordsAfter
	added  []int64    // records of every AddCounts' tally
}

func (k *keeper) append(chain string, n int, t0 time.Time) []*audit.Record {
	recs := make([]*audit.Record, n)
	for i := range recs {
		recs[i] = &audit.Record{Time: t0.Add(time.Duration(i) * time.Second), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "c", Sub: "s"}
	}
	k.bodies[chain] = append(k.bodies[chain], Seal(chain, uint64(len(k.bodies[chain])), recs)...)
	return recs
}

func (k *keeper) Chains(context.Context) ([]string, error) { return []string{"a"}, nil }
func (k *keeper) TreeSize(_ context.Context, chain string) (int64, error) {
	return int64(len(k.bodies[chain])), nil
}
func (k *keeper) CountedUpTo(context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for c, m := range k.marks {
		out[c] = m
	}
	return out, nil
}
func (k *keeper) RecordsAfter(_ context.Context, chain string, after int64, limit int, fn func(int64, []byte) error) error {
	k.reads = append(k.reads, [2]int64{after, int64(limit)})
	for seq := after + 1; seq <= int64(len(k.bodies[chain])) && seq <= after+int64(limit); seq++ {
		if err := fn(seq, k.bodies[chain][seq-1]); err != nil {
			return err
		}
	}
	return nil
}
func (k *keeper) AddCounts(_ context.Context, chain string, from, to int64, t *Tally) (bool, error) {
	if k.marks[chain] != from {
		return false, nil
	}
	var n int64
	for _, v := range t.Minutes {
		n += v
	}
	k.added = append(k.added, n)
	k.marks[chain] = to
	return true, nil
}

// The records this process appended and fed are counted from memory; the
// ones it did not feed (another process's) are read, exactly those.
func TestCounterTakesFedRecords(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	k := &keeper{bodies: map[string][][]byte{}, marks: map[string]int64{}}
	c := NewCounter(k)
	c.feeding.Store(true) // as the first Counts does

	c.Fed("a", k.append("a", 10, t0))
	if _, err := c.CatchUp(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if len(k.reads) != 0 || len(k.added) != 1 || k.added[0] != 10 || k.marks["a"] != 10 {
		t.Fatalf("fed records: reads %v, tallies %v, mark %d; want no read, one tally of 10, mark 10", k.reads, k.added, k.marks["a"])
	}

	k.append("a", 5, t0)             // another process: not fed
	c.Fed("a", k.append("a", 3, t0)) // records 16-18
	k.reads, k.added = nil, nil
	if _, err := c.CatchUp(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if len(k.reads) != 1 || k.reads[0] != [2]int64{10, 5} {
		t.Fatalf("reads %v; want records 11-15 only (after 10, limit 5)", k.reads)
	}
	if len(k.added) != 2 || k.added[0] != 5 || k.added[1] != 3 || k.marks["a"] != 18 {
		t.Fatalf("tallies %v, mark %d; want 5 read then 3 fed, mark 18", k.added, k.marks["a"])
	}

	// Someone else counted past the start of the fed tally: it is
	// dropped, and the rest is read.
	c.Fed("a", k.append("a", 4, t0)) // 19-22
	k.marks["a"] = 20
	k.reads, k.added = nil, nil
	if _, err := c.CatchUp(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if len(k.added) != 1 || k.added[0] != 2 || k.marks["a"] != 22 || len(k.reads) != 1 || k.reads[0][0] != 20 {
		t.Fatalf("reads %v, tallies %v, mark %d; want records 21-22 read, mark 22", k.reads, k.added, k.marks["a"])
	}
}
