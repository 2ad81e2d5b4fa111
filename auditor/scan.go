package auditor

import (
	"crypto/sha256"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// leafPrefix is the byte RFC 6962 puts before a leaf's data.
var leafPrefix = [1]byte{0x00}

// Sizes of [ChainVerifier.Scan]'s batches.
const (
	batchRows  = 1024       // rows per batch
	batchBytes = 1024 * 768 // bytes of rows per batch
)

// rowBatch is a run of consecutive rows copied out of a scan, checked by a
// worker, then folded in order.
type rowBatch struct {
	seqs []int64
	// Offsets in arena: each body is stored after a 0x00 byte (body[i] is
	// that byte's offset, -1 when pruned) so that its leaf hash,
	// SHA-256(0x00 || body), is one call; then the stored leaf hash.
	body, bodyLen, leaf, leafLen []int
	arena                        []byte
	checks                       []rowCheck
	checked                      chan struct{} // a worker has filled checks
}

func newRowBatch() *rowBatch {
	return &rowBatch{
		seqs:    make([]int64, 0, batchRows),
		body:    make([]int, 0, batchRows),
		bodyLen: make([]int, 0, batchRows),
		leaf:    make([]int, 0, batchRows),
		leafLen: make([]int, 0, batchRows),
		arena:   make([]byte, 0, batchBytes),
		checked: make(chan struct{}, 1),
	}
}

// full reports whether a row with body and leaf would take the batch past
// its size.
func (b *rowBatch) full(body, leaf []byte) bool {
	return len(b.seqs) > 0 && (len(b.seqs) >= batchRows || len(b.arena)+1+len(body)+len(leaf) > batchBytes)
}

// add copies a row into the batch (which grows if need be).
func (b *rowBatch) add(seq int64, body, leaf []byte) {
	b.seqs = append(b.seqs, seq)
	if body == nil {
		b.body = append(b.body, -1)
		b.bodyLen = append(b.bodyLen, 0)
	} else {
		b.body = append(b.body, len(b.arena))
		b.bodyLen = append(b.bodyLen, len(body))
		b.arena = append(b.arena, 0x00)
		b.arena = append(b.arena, body...)
	}
	b.leaf = append(b.leaf, len(b.arena))
	b.leafLen = append(b.leafLen, len(leaf))
	b.arena = append(b.arena, leaf...)
}

func (b *rowBatch) reset() {
	b.seqs, b.body, b.bodyLen, b.leaf, b.leafLen, b.arena = b.seqs[:0], b.body[:0], b.bodyLen[:0], b.leaf[:0], b.leafLen[:0], b.arena[:0]
	if cap(b.arena) > 4*batchBytes {
		b.arena = make([]byte, 0, batchBytes) // do not keep what one large batch needed
	}
}

// check fills b.checks with what each row's own check finds.
func (b *rowBatch) check(c *ChainVerifier) {
	b.checks = slices.Grow(b.checks[:0], len(b.seqs))[:len(b.seqs)]
	for i, seq := range b.seqs {
		leaf := b.arena[b.leaf[i] : b.leaf[i]+b.leafLen[i]]
		if b.body[i] < 0 {
			b.checks[i] = c.checkRow(seq, nil, leaf, tlog.Hash{})
			continue
		}
		prefixed := b.arena[b.body[i] : b.body[i]+1+b.bodyLen[i]]
		b.checks[i] = c.checkRow(seq, prefixed[1:], leaf, sha256.Sum256(prefixed))
	}
}

// fold folds b's checked rows into the chain, in order.
func (b *rowBatch) fold(c *ChainVerifier) {
	for i, seq := range b.seqs {
		c.fold(seq, b.checks[i])
	}
}

// Scan checks the rows that scan gives to add, in seq order, as
// [ChainVerifier.Record] would one by one, with the same findings, but on
// several cores: scan runs on the calling goroutine and add copies each
// row into a batch (the slices need only be valid during the call);
// workers check each row on its own (its leaf hash, and that its body says
// its seq and chain), which depends on nothing else; one goroutine then
// takes the batches in the order they were scanned and does what depends on
// the order (repeats, gaps, the tree and the checkpoints of each size).
// Memory is bounded: a fixed number of batches of about 1,000 rows are in
// flight, whatever the chain's length. Scan returns scan's error after
// every row given before it is checked.
func (c *ChainVerifier) Scan(scan func(add func(seq int64, body, leaf []byte) error) error) error {
	workers := runtime.GOMAXPROCS(0)
	batches := 2*workers + 2
	free := make(chan *rowBatch, batches)
	for range batches {
		free <- newRowBatch()
	}
	// Every batch in flight is in work (until a worker takes it) and in
	// order (until folded): neither send blocks.
	work := make(chan *rowBatch, batches)
	order := make(chan *rowBatch, batches)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range work {
				b.check(c)
				b.checked <- struct{}{}
			}
		})
	}
	folded := make(chan struct{})
	go func() {
		defer close(folded)
		for b := range order {
			<-b.checked
			b.fold(c)
			b.reset()
			free <- b
		}
	}()
	cur := <-free
	send := func() {
		work <- cur
		order <- cur
		cur = <-free
	}
	err := scan(func(seq int64, body, leaf []byte) error {
		if cur.full(body, leaf) {
			send()
		}
		cur.add(seq, body, leaf)
		return nil
	})
	if len(cur.seqs) > 0 {
		work <- cur
		order <- cur
	}
	close(work)
	close(order)
	<-folded
	wg.Wait()
	return err
}

// rangeRows is how many seqs each range of [ChainVerifier.ScanRanges]
// covers: long enough that each worker reads the file in long runs (with
// ranges of 2,048 seqs, two workers reading alternate ranges from a cold
// page cache spent 1.5x the system time of one scan), short enough that
// the ranges in flight stay small (56 bytes a row: seq and check).
//
// It is a power of two: the ranges start at seq 1 + k*rangeRows, so each
// whole range is a complete subtree of the chain's tree, which the worker
// that reads it hashes (see [checkedBatch.hashTree]).
const rangeRows = 16384

// A seqRange is one part of a chain that [ChainVerifier.ScanRanges] reads:
// the rows with from <= seq < to, delivered in batches of checked rows
// (one, unless it is the open-ended last range), then the read's error.
type seqRange struct {
	from, to int64
	batches  chan *checkedBatch
	err      error // set before batches is closed
}

// checkedBatch is a run of consecutive rows, each with what its own check
// found: all the folding needs (the rows themselves are not kept).
type checkedBatch struct {
	seqs   []int64
	checks []rowCheck

	// When tree is set, the batch is a whole range of rangeRows seqs, each
	// once and in order, and the worker that read it also hashed its part
	// of the tree: root is the root of its leaves' subtree, and snaps the
	// frontier of that subtree after each row that a checkpoint's size
	// names (but the last), so that the folder needs no hashing but the
	// O(log n) tree heads of those sizes.
	tree  bool
	root  tlog.Hash
	snaps []treeSnap
	front frontier
}

// A treeSnap is the frontier of a range's own subtree after record seq.
type treeSnap struct {
	seq    int64
	hashes []tlog.Hash
}

func (b *checkedBatch) reset() {
	b.seqs, b.checks, b.tree, b.snaps = b.seqs[:0], b.checks[:0], false, b.snaps[:0]
}

// hashTree sets tree, root and snaps if b holds exactly the seqs start ..
// start+rangeRows-1 in order; sizes are the checkpoints' sizes, sorted.
func (b *checkedBatch) hashTree(start int64, sizes []int64) {
	if len(b.seqs) != rangeRows {
		return
	}
	for i, seq := range b.seqs {
		if seq != start+int64(i) {
			return
		}
	}
	f := &b.front
	f.hashes, f.sizes = f.hashes[:0], f.sizes[:0]
	t, _ := slices.BinarySearch(sizes, start)
	for i := range b.checks {
		f.push(b.checks[i].leaf)
		for ; t < len(sizes) && sizes[t] <= start+int64(i); t++ {
			if sizes[t] == start+int64(i) && i < len(b.checks)-1 {
				b.snaps = append(b.snaps, treeSnap{seq: sizes[t], hashes: slices.Clone(f.hashes)})
			}
		}
	}
	b.root, b.tree = f.hashes[0], true
}

func (b *checkedBatch) fold(c *ChainVerifier) {
	if b.tree && !c.broken && c.expected == b.seqs[0] {
		b.foldTree(c)
		return
	}
	for i, seq := range b.seqs {
		c.fold(seq, b.checks[i])
	}
}

// foldTree is fold for a batch whose subtree the worker hashed: the same
// findings in the same order as c.fold row by row (the batch has no gap or
// repeat, so only each row's own check and the checkpoints are reported),
// with the subtree's root pushed once.
func (b *checkedBatch) foldTree(c *ChainVerifier) {
	snaps := b.snaps
	last := len(b.seqs) - 1
	for i, seq := range b.seqs {
		c.report(seq, b.checks[i])
		if i < last && len(snaps) > 0 && snaps[0].seq == seq {
			more := snaps[0].hashes
			c.checkTargetsRoot(seq, func() tlog.Hash { return c.front.rootWith(more) })
			snaps = snaps[1:]
		}
		if i == last {
			c.front.pushTree(b.root, int64(len(b.seqs)))
			c.checkTargets(seq)
			c.expected = seq + 1
		}
		c.cr.Records++
		if c.cr.Records%16384 == 0 {
			c.progress(c.cr.Records)
		}
	}
}

// ScanRanges checks a chain of size records (its largest seq) that read
// can give by seq range, with the same findings as [ChainVerifier.Record]
// given every row in seq order, on several cores: read(from, to, add) gives
// add, in seq order, the rows with from <= seq < to (math.MinInt64 and
// math.MaxInt64 mean no bound), and may be called from several goroutines
// at once. The chain is cut into ranges of 16,384 seqs, the first open
// below, plus the rest from size+1 on; workers each read a range and check
// its rows on their own (leaf hash, seq and chain in the body), and one
// goroutine folds the ranges in order (repeats, gaps, the tree, the
// checkpoints). Once a range holds fewer rows than it covers (a gap, or
// seqs far apart), the rest of the chain is read as one range, by one
// worker, so a chain with a seq near 2^63 costs no more ranges than rows.
// Memory is bounded by a fixed number of ranges in flight. ScanRanges
// returns the first error of read, in seq order, after every row before it
// is checked.
func (c *ChainVerifier) ScanRanges(size int64, read func(from, to int64, add func(seq int64, body, leaf []byte) error) error) error {
	workers := runtime.GOMAXPROCS(0)
	batches := 2*workers + 2
	sizes := slices.Sorted(maps.Keys(c.targets))
	free := make(chan *checkedBatch, batches)
	for range batches {
		free <- &checkedBatch{seqs: make([]int64, 0, rangeRows), checks: make([]rowCheck, 0, rangeRows)}
	}
	// Each range in flight holds a batch from the moment it is handed out,
	// so order never holds more than batches ranges: sends never block.
	order := make(chan *seqRange, batches)
	var (
		mu     sync.Mutex
		next   = int64(1) // from of the next range
		first  = true
		rest   bool // the next range is the open-ended last one
		closed bool // no more ranges: the last was handed out, or a read failed
	)
	// claim hands out the next range, or nil.
	claim := func() *seqRange {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return nil
		}
		r := &seqRange{from: next, to: next + rangeRows, batches: make(chan *checkedBatch, batches)}
		if first {
			r.from, first = math.MinInt64, false
		}
		if rest || next > size || next > math.MaxInt64-rangeRows {
			r.to, closed = math.MaxInt64, true
		}
		next = r.to
		order <- r
		return r
	}
	stop := func() {
		mu.Lock()
		closed = true
		mu.Unlock()
	}
	sparse := func() {
		mu.Lock()
		rest = true
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				b := <-free // the range's first batch
				r := claim()
				if r == nil {
					free <- b
					return
				}
				var n int64
				d := sha256.New() // one digest a worker: tlog.RecordHash allocates one a record
				r.err = read(r.from, r.to, func(seq int64, body, leaf []byte) error {
					// Only the last range, open-ended, spans batches: the
					// others are in the folder's queue before it, so they
					// never wait for a batch.
					if r.to == math.MaxInt64 && len(b.seqs) == rangeRows {
						r.batches <- b
						b = <-free
					}
					var h tlog.Hash
					if body != nil {
						// tlog.RecordHash: SHA-256(0x00 || body).
						d.Reset()
						d.Write(leafPrefix[:])
						d.Write(body)
						d.Sum(h[:0])
					}
					b.seqs = append(b.seqs, seq)
					b.checks = append(b.checks, c.checkRow(seq, body, leaf, h))
					n++
					return nil
				})
				if r.err == nil && r.to != math.MaxInt64 {
					b.hashTree(r.to-rangeRows, sizes)
				}
				r.batches <- b
				close(r.batches)
				if r.err != nil {
					stop()
				} else if r.from != math.MinInt64 && r.to != math.MaxInt64 && n < r.to-r.from {
					sparse()
				}
			}
		})
	}
	var err error
	folded := make(chan struct{})
	go func() {
		defer close(folded)
		for r := range order {
			for b := range r.batches {
				if err == nil {
					b.fold(c)
				}
				b.reset()
				free <- b
			}
			if err == nil {
				err = r.err
			}
		}
	}()
	wg.Wait()
	close(order)
	<-folded
	return err
}
