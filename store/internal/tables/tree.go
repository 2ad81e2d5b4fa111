package tables

import "golang.org/x/mod/sumdb/tlog"

// ExtendTree computes the hashes that appending leaves to a tree of size
// records adds to the stored tree (the golang.org/x/mod/sumdb/tlog layout,
// level-0 leaf hashes included), as parallel slices of stored-hash indexes
// and hashes. stored reads the hashes the store already has.
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
