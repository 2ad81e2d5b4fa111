package tables

import (
	"context"

	"golang.org/x/mod/sumdb/tlog"
)

// UnstoredBelow is the lowest tree level whose hashes are stored (table
// tree_hashes, in the golang.org/x/mod/sumdb/tlog layout). A leaf hash
// (level 0) is read from its record's row (audit.leaf: it is stored once),
// and an interior hash below this level (a subtree of at most 128 leaves)
// is computed from its leaves when it is read. Storing the leaves again
// cost a row (about 60 bytes) per record and one insert per record at
// every checkpoint; this stores one row per 256 records and a few more.
// Stores made before hold more levels: reads never use those rows.
const UnstoredBelow = 8

// StoredLevel reports whether the hashes of level are stored in
// tree_hashes.
func StoredLevel(level int) bool { return level >= UnstoredBelow }

// Tree reads chain's tree hashes: the stored ones (levels from
// UnstoredBelow up) with Stored, the leaves from the audit rows, and the
// interior hashes in between from those leaves. It is a [tlog.HashReader].
type Tree struct {
	Dialect *Dialect
	Ctx     context.Context
	Q       Querier
	Chain   string
	// Stored reads the hashes at the given stored indexes (every one at a
	// stored level), in order; a missing one is an error.
	Stored func(indexes []int64) ([]tlog.Hash, error)
}

// ReadHashes implements [tlog.HashReader].
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var stored []int64
	var at []int
	for i, idx := range indexes {
		level, n := tlog.SplitStoredHashIndex(idx)
		if StoredLevel(level) {
			stored = append(stored, idx)
			at = append(at, i)
			continue
		}
		h, err := t.subtree(level, n)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	if len(stored) > 0 {
		hs, err := t.Stored(stored)
		if err != nil {
			return nil, err
		}
		for j, h := range hs {
			out[at[j]] = h
		}
	}
	return out, nil
}

// subtree computes the hash of the complete subtree at level (below
// UnstoredBelow) whose leftmost leaf is n<<level, from its records' leaf
// hashes, read with one query.
func (t *Tree) subtree(level int, n int64) (tlog.Hash, error) {
	first, count := n<<level, 1<<level
	hs, err := t.Dialect.Leaves(t.Ctx, t.Q, t.Chain, first, count, make([]tlog.Hash, 0, count))
	if err != nil {
		return tlog.Hash{}, err
	}
	if len(hs) != count {
		return tlog.Hash{}, t.Dialect.errorf("chain %q: the leaf hashes of records %d to %d are missing", t.Chain, first+int64(len(hs))+1, first+int64(count))
	}
	for len(hs) > 1 {
		for i := 0; i < len(hs); i += 2 {
			hs[i/2] = tlog.NodeHash(hs[i], hs[i+1])
		}
		hs = hs[:len(hs)/2]
	}
	return hs[0], nil
}

// StoredOnly keeps, of the parallel slices ExtendTree returns, the
// indexes and hashes at stored levels.
func StoredOnly(idxs []int64, hashes []tlog.Hash) ([]int64, []tlog.Hash) {
	i := 0
	for j, idx := range idxs {
		if level, _ := tlog.SplitStoredHashIndex(idx); StoredLevel(level) {
			idxs[i], hashes[i] = idx, hashes[j]
			i++
		}
	}
	return idxs[:i], hashes[:i]
}

// DropUnstoredRange is the range [lo, hi) of stored-hash indexes of
// levels below UnstoredBelow that the records of the k-th complete
// subtree of 1<<UnstoredBelow leaves added (hashes kept by stores made
// before [UnstoredBelow] applied to every level): in the tlog layout they
// are contiguous, and that subtree's own hash is at hi.
func DropUnstoredRange(k int64) (lo, hi int64) {
	return tlog.StoredHashIndex(0, k<<UnstoredBelow), tlog.StoredHashIndex(UnstoredBelow, k)
}

// ExtendTree computes the hashes that appending leaves to a tree of size
// records adds to the tree (the golang.org/x/mod/sumdb/tlog layout, every
// level, level-0 leaf hashes included), as parallel slices of stored-hash
// indexes and hashes. stored reads the hashes the tree already has.
func ExtendTree(size int64, leaves []tlog.Hash, stored tlog.HashReader) ([]int64, []tlog.Hash, error) {
	r := &overlay{stored: stored, new: make(map[int64]tlog.Hash, 2*len(leaves))}
	idxs := make([]int64, 0, 2*len(leaves))
	hashes := make([]tlog.Hash, 0, 2*len(leaves))
	for i, leaf := range leaves {
		n := size + int64(i)
		hs, err := tlog.StoredHashesForRecordHash(n, leaf, r)
		if err != nil {
			return nil, nil, err
		}
		base := tlog.StoredHashIndex(0, n)
		for j, h := range hs {
			r.new[base+int64(j)] = h
			idxs = append(idxs, base+int64(j))
			hashes = append(hashes, h)
		}
	}
	return idxs, hashes, nil
}

// overlay reads the hashes being computed before the stored ones.
type overlay struct {
	stored tlog.HashReader
	new    map[int64]tlog.Hash
}

func (o *overlay) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, idx := range indexes {
		if h, ok := o.new[idx]; ok {
			out[i] = h
		} else {
			missing = append(missing, idx)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := o.stored.ReadHashes(missing)
	if err != nil {
		return nil, err
	}
	for i, idx := range indexes {
		if _, ok := o.new[idx]; !ok {
			out[i], got = got[0], got[1:]
		}
	}
	return out, nil
}

// dropBlocks is how many subtrees of 1<<UnstoredBelow records one
// transaction of DropOlderTreeRows clears (16,384 records).
const dropBlocks = 64

// DropOlderTreeRows deletes from tree_hashes the rows below UnstoredBelow
// that stores made before kept (every leaf hash; on PostgreSQL every
// level): reads never use them. It runs at every open and does nothing
// once they are gone: a chain still holds them when it has the row of its
// first leaf (index 0), and that row is deleted last, the chain's
// records being cleared from the newest down, dropBlocks subtrees a
// transaction run by inTx (a crash midway leaves the rest for the next
// open). Only the ranges [DropUnstoredRange] names are deleted, so the
// stored levels, and rows a concurrent build adds, stay. It returns how
// many rows it deleted.
func (d *Dialect) DropOlderTreeRows(ctx context.Context, q Querier, inTx func(func(Querier) error) error) (int64, error) {
	type chainSize struct {
		chain string
		size  int64
	}
	var chains []chainSize
	err := d.query(ctx, q, "SELECT t.chain, t.size FROM tree_size t WHERE EXISTS (SELECT 1 FROM tree_hashes h WHERE h.chain = t.chain AND h.idx = 0)", nil, func(r Rows) error {
		var c chainSize
		if err := r.Scan(&c.chain, &c.size); err != nil {
			return err
		}
		chains = append(chains, c)
		return nil
	})
	if err != nil {
		return 0, d.errorf("find older tree rows: %w", err)
	}
	var total int64
	for _, c := range chains {
		for hi := c.size >> UnstoredBelow; hi >= 0; hi -= dropBlocks {
			var deleted int64
			err := inTx(func(tx Querier) error {
				deleted = 0
				for k := hi; k > hi-dropBlocks && k >= 0; k-- {
					lo, end := DropUnstoredRange(k)
					n, err := tx.Exec(ctx, d.SQL("DELETE FROM tree_hashes WHERE chain = ? AND idx >= ? AND idx < ?"), c.chain, lo, end)
					if err != nil {
						return err
					}
					deleted += n
				}
				return nil
			})
			total += deleted
			if err != nil {
				return total, d.errorf("drop older tree rows of chain %q: %w", c.chain, err)
			}
		}
	}
	return total, nil
}
