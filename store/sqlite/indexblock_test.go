//go:build cgo

package sqlite

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// decodeAll returns the pairs of a block, or the decoder's error.
func decodeAll(data []byte, run int64) ([]tables.IndexEntry, error) {
	var out []tables.IndexEntry
	err := decodeBlock(data, run, func(key int64, ids []int64) bool {
		for _, id := range ids {
			out = append(out, tables.IndexEntry{Key: key, ID: id})
		}
		return true
	})
	return out, err
}

// The blocks of a run hold its pairs once each, in order, whole key groups
// a block; the block blockOf names for a key holds all of its ids, and a
// key a run lacks is in none.
func TestBlockEdges(t *testing.T) {
	const run = 3
	base := int64(run << indexRunShift)
	rng := rand.New(rand.NewPCG(1, 2))
	many := make([]tables.IndexEntry, 0)
	for i := range int64(1 << indexRunShift) {
		many = append(many, tables.IndexEntry{Key: rng.Int64(), ID: base + i}, tables.IndexEntry{Key: 7, ID: base + i})
	}
	cases := []struct {
		name  string
		pairs []tables.IndexEntry
	}{
		{"one record", []tables.IndexEntry{{Key: -5, ID: base}}},
		{"last id of the run", []tables.IndexEntry{{Key: 1, ID: base + 1<<indexRunShift - 1}, {Key: 2, ID: base}}},
		{"extreme keys", []tables.IndexEntry{{Key: -1 << 63, ID: base + 1}, {Key: 1<<63 - 1, ID: base + 2}, {Key: 0, ID: base + 3}}},
		{"a whole run, one key in every record", many},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pairs := slices.Clone(c.pairs)
			slices.SortFunc(pairs, comparePairs)
			blocks, fences := splitBlocks(run, pairs)
			if len(blocks) != len(fences) || len(blocks) == 0 {
				t.Fatalf("%d blocks, %d fences", len(blocks), len(fences))
			}
			var all []tables.IndexEntry
			for i, b := range blocks {
				got, err := decodeAll(b, run)
				if err != nil {
					t.Fatalf("block %d: %v", i, err)
				}
				if got[0].Key != fences[i] {
					t.Fatalf("block %d starts at key %d, its fence is %d", i, got[0].Key, fences[i])
				}
				if i > 0 && got[0].Key == all[len(all)-1].Key {
					t.Fatalf("key %d split between blocks %d and %d", got[0].Key, i-1, i)
				}
				if i < len(blocks)-1 && len(b) < indexBlockTarget {
					t.Fatalf("block %d of %d bytes closed early", i, len(b))
				}
				all = append(all, got...)
			}
			if !slices.Equal(all, pairs) {
				t.Fatalf("the blocks hold %d pairs, want %d", len(all), len(pairs))
			}
			fb := encodeFences(fences)
			byKey := map[int64][]int64{}
			for _, p := range pairs {
				byKey[p.Key] = append(byKey[p.Key], p.ID)
			}
			for key, want := range byKey {
				b, ok := blockOf(fb, key)
				if !ok {
					t.Fatalf("key %d: no block", key)
				}
				var got []int64
				decodeBlock(blocks[b], run, func(k int64, ids []int64) bool {
					if k == key {
						got = slices.Clone(ids)
					}
					return true
				})
				if !slices.Equal(got, want) {
					t.Fatalf("key %d: block %d holds ids %v, want %v", key, b, got, want)
				}
			}
			// Keys it lacks: below the first fence none, else a block
			// without them.
			for _, key := range []int64{fences[0] - 1, fences[len(fences)-1] + 1} {
				if _, in := byKey[key]; in || key > fences[0]-1 && fences[0] == 1<<63-1 {
					continue
				}
				b, ok := blockOf(fb, key)
				if key < fences[0] {
					if ok {
						t.Fatalf("key %d below every fence: block %d", key, b)
					}
					continue
				}
				decodeBlock(blocks[b], run, func(k int64, _ []int64) bool {
					if k == key {
						t.Fatalf("key %d found in block %d", key, b)
					}
					return true
				})
			}
		})
	}
}

// A block that encodeBlock could not have written is an error, not a
// wrong answer.
func TestDecodeBlockRejects(t *testing.T) {
	good := encodeBlock(nil, 2, []tables.IndexEntry{{Key: 1, ID: 2<<indexRunShift + 5}, {Key: 1, ID: 2<<indexRunShift + 9}, {Key: 4, ID: 2 << indexRunShift}})
	if _, err := decodeAll(good, 2); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"cut short":       good[:len(good)-1],
		"key cut short":   good[:5],
		"another run":     nil, // decoded as run 3 below
		"empty group":     append(append([]byte{}, good[:8]...), 0),
		"id out of run":   append(append([]byte{}, good[:8]...), 1, 0x80, 0x20),
		"ids not growing": append(append([]byte{}, good[:8]...), 2, 1, 0),
		"keys not rising": append(append([]byte{}, good...), good...),
	} {
		run := int64(2)
		if b == nil {
			continue
		}
		if _, err := decodeAll(b, run); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if got, err := decodeAll(good, 1<<60); err == nil {
		t.Errorf("a run out of range: decoded %v", got)
	}
}

// FuzzDecodeBlock: any bytes decode to pairs of the run, sorted and
// within it, or to an error, never a panic; what decodes encodes to a
// block that decodes to the same pairs.
func FuzzDecodeBlock(f *testing.F) {
	f.Add(encodeBlock(nil, 0, []tables.IndexEntry{{Key: 1, ID: 0}, {Key: 1, ID: 4095}, {Key: 9, ID: 3}}), int64(0))
	f.Add(encodeBlock(nil, 5, []tables.IndexEntry{{Key: -3, ID: 5<<indexRunShift + 7}}), int64(5))
	f.Add([]byte{}, int64(1))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0x0f}, int64(1))
	f.Fuzz(func(t *testing.T, data []byte, run int64) {
		pairs, err := decodeAll(data, run)
		if err != nil {
			return
		}
		base := run << indexRunShift
		for i, p := range pairs {
			if p.ID < base || p.ID >= base+1<<indexRunShift {
				t.Fatalf("id %d out of run %d", p.ID, run)
			}
			if i > 0 && comparePairs(pairs[i-1], p) >= 0 {
				t.Fatalf("pairs not ascending at %d", i)
			}
		}
		again, err := decodeAll(encodeBlock(nil, run, pairs), run)
		if err != nil || !slices.Equal(again, pairs) {
			t.Fatalf("re-encoded: %v, %d pairs, want %d", err, len(again), len(pairs))
		}
	})
}
