//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// The query index is kept as sorted blocks, one set per run of
// 1<<indexRunShift records (docs/ledger-format.md, "The query index"):
//
//	audit_run   (run, fences)  fences: the first key of each block of the
//	                           run, 8 bytes little-endian each, ascending
//	audit_block (bid, data)    bid = run<<16 | block number; data: the
//	                           block's (key, id) pairs (encodeBlock)
//
// A block holds whole key groups (a key's ids in a run are never split
// between blocks), in key order, until it reaches indexBlockTarget bytes:
// a key is in at most one block of a run, the last whose fence is not
// above it. A query of a key reads the fences of a chunk of runs (one
// statement), finds each run's block by binary search and reads those
// blocks (a second statement).

// indexBlockTarget is the size at which a block is closed (a single key
// group of more is one block of its own). A block then fits in one 4 KiB
// page of the index file: with 4 KiB blocks (two pages each, through an
// overflow page) a jti with no match read 13 ms at 1 M records, with
// 1 KiB blocks 2.8 ms, for 15% more bytes in the file.
const indexBlockTarget = 1024

// blockShift places a block number in a bid.
const blockShift = 16

var errBlock = errors.New("malformed index block")

// encodeBlock appends to dst the groups of pairs (sorted by key, then
// id; all in run): per key, the key (8 bytes little-endian), the number
// of ids (uvarint), the first id's offset in the run (uvarint) and the
// gaps to each next (uvarint, at least 1).
func encodeBlock(dst []byte, run int64, pairs []tables.IndexEntry) []byte {
	base := run << indexRunShift
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && pairs[j].Key == pairs[i].Key {
			j++
		}
		dst = binary.LittleEndian.AppendUint64(dst, uint64(pairs[i].Key))
		dst = binary.AppendUvarint(dst, uint64(j-i))
		prev := base
		for k := i; k < j; k++ {
			if k == i {
				dst = binary.AppendUvarint(dst, uint64(pairs[k].ID-base))
			} else {
				dst = binary.AppendUvarint(dst, uint64(pairs[k].ID-prev))
			}
			prev = pairs[k].ID
		}
		i = j
	}
	return dst
}

// decodeBlock calls fn for each key group of block data of run, with the
// key and the group's ids (valid during the call only); fn returning
// false stops. A block that is not one encodeBlock could have written
// (keys not ascending, an empty group, ids out of the run or not
// ascending, bytes cut short or left over) is an error.
func decodeBlock(data []byte, run int64, fn func(key int64, ids []int64) bool) error {
	if run < 0 || run > (1<<(63-indexRunShift))-1 {
		return errBlock
	}
	base := run << indexRunShift
	limit := base + 1<<indexRunShift
	var ids []int64
	first := true
	var last int64
	for len(data) > 0 {
		if len(data) < 8 {
			return errBlock
		}
		key := int64(binary.LittleEndian.Uint64(data))
		data = data[8:]
		if !first && key <= last {
			return errBlock
		}
		first, last = false, key
		n, w := binary.Uvarint(data)
		if w <= 0 || n == 0 || n > uint64(len(data)) || n > 1<<indexRunShift {
			return errBlock
		}
		data = data[w:]
		ids = ids[:0]
		id := base
		for k := uint64(0); k < n; k++ {
			d, w := binary.Uvarint(data)
			if w <= 0 || (k > 0 && d == 0) || d >= 1<<indexRunShift {
				return errBlock
			}
			data = data[w:]
			id += int64(d)
			if id >= limit {
				return errBlock
			}
			ids = append(ids, id)
		}
		if !fn(key, ids) {
			return nil
		}
	}
	return nil
}

// splitBlocks cuts the sorted pairs of one run into blocks at key
// boundaries, each closed once it holds indexBlockTarget bytes, and
// returns the blocks and their fences.
func splitBlocks(run int64, pairs []tables.IndexEntry) (blocks [][]byte, fences []int64) {
	var cur []byte
	for i := 0; i < len(pairs); {
		j := i + 1
		for j < len(pairs) && pairs[j].Key == pairs[i].Key {
			j++
		}
		if len(cur) == 0 {
			fences = append(fences, pairs[i].Key)
		}
		cur = encodeBlock(cur, run, pairs[i:j])
		if len(cur) >= indexBlockTarget {
			blocks, cur = append(blocks, cur), nil
		}
		i = j
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks, fences
}

func encodeFences(fences []int64) []byte {
	b := make([]byte, 0, 8*len(fences))
	for _, f := range fences {
		b = binary.LittleEndian.AppendUint64(b, uint64(f))
	}
	return b
}

// blockOf returns the number of the block of a run with fences that can
// hold key, false when none can.
func blockOf(fences []byte, key int64) (int, bool) {
	n := len(fences) / 8
	at := func(i int) int64 { return int64(binary.LittleEndian.Uint64(fences[8*i:])) }
	// The first fence above key; the block before it.
	i, j := 0, n
	for i < j {
		h := int(uint(i+j) >> 1)
		if at(h) <= key {
			i = h + 1
		} else {
			j = h
		}
	}
	return i - 1, i > 0
}

// writeRun writes the blocks of run holding pairs (sorted by key, then
// id) and the pairs the run already holds, merged, in tx.
func (db *DB) writeRun(ctx context.Context, tx *sql.Tx, run int64, pairs []tables.IndexEntry) error {
	var old []byte
	err := tx.QueryRowContext(ctx, "SELECT fences FROM audit_run WHERE run = ?", run).Scan(&old)
	switch {
	case err == nil:
		// A run indexed in part before (the store stood still): merge.
		prev, err := readRun(ctx, tx, run)
		if err != nil {
			return err
		}
		pairs = mergePairs(prev, pairs)
		if _, err := tx.ExecContext(ctx, "DELETE FROM audit_block WHERE bid >= ? AND bid < ?", run<<blockShift, (run+1)<<blockShift); err != nil {
			return err
		}
	case !isNoRows(err):
		return err
	}
	blocks, fences := splitBlocks(run, pairs)
	if len(blocks) >= 1<<blockShift {
		return fmt.Errorf("run %d: %d index blocks", run, len(blocks))
	}
	for i, b := range blocks {
		if _, err := tx.StmtContext(ctx, db.insertIndex).ExecContext(ctx, run<<blockShift|int64(i), b); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO audit_run (run, fences) VALUES (?, ?)", run, encodeFences(fences))
	return err
}

// readRun returns every pair of run's blocks, sorted by key, then id.
func readRun(ctx context.Context, q execQuerier, run int64) ([]tables.IndexEntry, error) {
	rows, err := q.QueryContext(ctx, "SELECT data FROM audit_block WHERE bid >= ? AND bid < ? ORDER BY bid", run<<blockShift, (run+1)<<blockShift)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tables.IndexEntry
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		if err := decodeBlock(data, run, func(key int64, ids []int64) bool {
			for _, id := range ids {
				out = append(out, tables.IndexEntry{Key: key, ID: id})
			}
			return true
		}); err != nil {
			return nil, fmt.Errorf("run %d: %w", run, err)
		}
	}
	return out, rows.Err()
}

func comparePairs(a, b tables.IndexEntry) int {
	if a.Key != b.Key {
		if a.Key < b.Key {
			return -1
		}
		return 1
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// mergePairs merges two sorted runs of pairs, once each.
func mergePairs(a, b []tables.IndexEntry) []tables.IndexEntry {
	out := append(slices.Clip(a), b...)
	slices.SortFunc(out, comparePairs)
	return slices.Compact(out)
}

// blockIndex reads the blocks for tables.Dialect (IndexBlocks).
type blockIndex struct{}

func (blockIndex) RunRange(ctx context.Context, q tables.Querier) (lo, hi int64, err error) {
	rows, err := q.Query(ctx, "SELECT COALESCE((SELECT MIN(run) FROM audit_run), 0), COALESCE((SELECT MAX(run) FROM audit_run), -1)")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, -1, rows.Err()
	}
	if err := rows.Scan(&lo, &hi); err != nil {
		return 0, 0, err
	}
	return lo, hi, rows.Err()
}

func inList(n int) string { return "(?" + strings.Repeat(", ?", n-1) + ")" }

func (blockIndex) KeyIDs(ctx context.Context, q tables.Querier, key int64, runs []int64) (map[int64][]int64, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	args := make([]any, len(runs))
	for i, r := range runs {
		args[i] = r
	}
	rows, err := q.Query(ctx, "SELECT run, fences FROM audit_run WHERE run IN "+inList(len(runs)), args...)
	if err != nil {
		return nil, err
	}
	var bids []any
	for rows.Next() {
		var run int64
		var fences []byte
		if err := rows.Scan(&run, &fences); err != nil {
			rows.Close()
			return nil, err
		}
		if b, ok := blockOf(fences, key); ok {
			bids = append(bids, run<<blockShift|int64(b))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[int64][]int64)
	if len(bids) == 0 {
		return out, nil
	}
	rows, err = q.Query(ctx, "SELECT bid, data FROM audit_block WHERE bid IN "+inList(len(bids)), bids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var bid int64
		var data []byte
		if err := rows.Scan(&bid, &data); err != nil {
			return nil, err
		}
		run := bid >> blockShift
		if err := decodeBlock(data, run, func(k int64, ids []int64) bool {
			if k == key {
				out[run] = slices.Clone(ids)
			}
			return k < key
		}); err != nil {
			return nil, fmt.Errorf("index block %s of run %d: %w", strconv.FormatInt(bid&(1<<blockShift-1), 10), run, err)
		}
	}
	return out, rows.Err()
}
