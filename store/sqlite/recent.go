//go:build cgo

package sqlite

import (
	"sync"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// recent holds the filter values of the records this process appended
// lately, so that the indexer takes them from memory instead of reading
// and decoding their bodies again (which cost it more than the append).
// Whatever it does not hold, the indexer reads from the database: another
// process's records, the ones from before open, or more than recentMax.
type recent struct {
	mu     sync.Mutex
	chains map[string]*recentChain
}

// recentMax is how many records of a chain recent holds at most.
const recentMax = 4 * 4096

type recentChain struct {
	first int64 // seq of recs[0]
	recs  []recentRec
}

type recentRec struct {
	id   int64
	vals tables.IndexValues
}

// add records that recs, with the consecutive rowids ending at lastID,
// are committed as the next records of chain (their Seq is set).
func (c *recent) add(chain string, lastID int64, recs []*audit.Record) {
	if len(recs) == 0 || lastID < int64(len(recs)) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chains == nil {
		c.chains = map[string]*recentChain{}
	}
	rc := c.chains[chain]
	first := int64(recs[0].Seq)
	if rc == nil || rc.first+int64(len(rc.recs)) != first {
		// Not the continuation of what it holds (another process
		// appended in between): start again from these.
		rc = &recentChain{first: first}
		c.chains[chain] = rc
	}
	id := lastID - int64(len(recs)) + 1
	for i, r := range recs {
		rc.recs = append(rc.recs, recentRec{id + int64(i), tables.ValuesOf(r)})
	}
	if over := len(rc.recs) - recentMax; over > 0 {
		rc.recs = append(rc.recs[:0], rc.recs[over:]...)
		rc.first += int64(over)
	}
}

// RecentEntries implements tables.RecentSource.
func (c *recent) RecentEntries(chain string, after, below int64, limit int, dst []tables.IndexEntry) ([]tables.IndexEntry, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := c.chains[chain]
	if rc == nil || rc.first > after+1 {
		return dst, after, false
	}
	// What is indexed is no longer needed.
	if done := int(after + 1 - rc.first); done > 0 {
		done = min(done, len(rc.recs))
		rc.recs = append(rc.recs[:0], rc.recs[done:]...)
		rc.first += int64(done)
	}
	to := after
	for _, r := range rc.recs {
		if limit == 0 || (below > 0 && r.id >= below) {
			break
		}
		dst = r.vals.AppendEntries(dst, r.id)
		to++
		limit--
	}
	return dst, to, to > after
}

// RecentEntries hands the indexer the records this process appended.
func (db *DB) RecentEntries(chain string, after, below int64, limit int, dst []tables.IndexEntry) ([]tables.IndexEntry, int64, bool) {
	return db.recent.RecentEntries(chain, after, below, limit, dst)
}
