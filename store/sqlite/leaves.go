//go:build cgo

package sqlite

import (
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// leafCache holds the leaf hashes of the records this process committed
// lately, so that the tree builder (every 1000 records, see BuildTree)
// takes them from memory instead of reading them back from the audit
// rows. It holds one run of consecutive records per chain: a batch that
// does not continue it (another process appended in between) starts a new
// run, and what the run does not hold is read from the database as
// before. The hashes are the ones stored: each record's LeafHash, set when
// it was sealed.
type leafCache struct {
	mu     sync.Mutex
	chains map[string]*leafRun
}

// leafMax is how many leaf hashes of a chain the cache holds at most.
const leafMax = 1 << 16

type leafRun struct {
	first  int64 // seq of hashes[0]
	hashes []tlog.Hash
}

// add records that recs (sealed: Seq and LeafHash set, consecutive) are
// committed in chain.
func (c *leafCache) add(chain string, recs []*audit.Record) {
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chains == nil {
		c.chains = map[string]*leafRun{}
	}
	first := int64(recs[0].Seq)
	run := c.chains[chain]
	if run == nil || run.first+int64(len(run.hashes)) != first {
		run = &leafRun{first: first}
		c.chains[chain] = run
	}
	for _, r := range recs {
		run.hashes = append(run.hashes, tlog.Hash(r.LeafHash))
	}
	if len(run.hashes) > leafMax {
		// Full (the tree was not extended for a while): keep the newest
		// half, so the copy is paid once per leafMax/2 records.
		over := len(run.hashes) - leafMax/2
		run.hashes = append(run.hashes[:0], run.hashes[over:]...)
		run.first += int64(over)
	}
}

// take appends to dst the leaf hashes of the records after size, up to
// limit of them, if the cache holds the first of them; ok is false when it
// does not (the caller reads them from the database). Hashes of records up
// to size are no longer needed and dropped.
func (c *leafCache) take(chain string, size int64, limit int, dst []tlog.Hash) (_ []tlog.Hash, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	run := c.chains[chain]
	if run == nil || run.first > size+1 {
		return dst, false
	}
	if done := int(min(size+1-run.first, int64(len(run.hashes)))); done > 0 {
		run.hashes = append(run.hashes[:0], run.hashes[done:]...)
		run.first += int64(done)
	}
	if len(run.hashes) == 0 {
		return dst, false
	}
	return append(dst, run.hashes[:min(limit, len(run.hashes))]...), true
}
