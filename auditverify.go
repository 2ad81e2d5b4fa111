package jwtledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// Kinds of damage [Ledger.VerifyAudit] reports.
const (
	DamageModified     = "modified"      // a record's content differs from what was appended
	DamageMissing      = "missing"       // a gap in the sequence
	DamageReordered    = "reordered"     // a record stands at another position than it was appended at
	DamageTruncated    = "truncated"     // the chain is shorter than a checkpoint says it was
	DamageBadSignature = "bad_signature" // a checkpoint's signature does not verify
	DamageFork         = "fork"          // a trusted checkpoint's root differs from the chain's at that size
	DamageUncovered    = "uncovered"     // records no checkpoint covers while checkpointing fails: they could be cut undetected
	DamageDamaged      = "damaged"       // the store itself is damaged (SQLite: "database disk image is malformed"); Detail says what could be read
)

// AuditDamage is one finding of [Ledger.VerifyAudit], located at the first
// sequence number it affects.
type AuditDamage struct {
	Kind   string `json:"kind"`
	Chain  string `json:"chain"`
	Seq    int64  `json:"seq"`
	Detail string `json:"detail"`
}

// ChainReport summarizes one verified chain.
type ChainReport struct {
	Chain       string    `json:"chain"`
	Records     int64     `json:"records"`
	Pruned      int64     `json:"pruned"`
	Checkpoints int       `json:"checkpoints"`
	Root        tlog.Hash `json:"root"` // recomputed root of the whole chain
	// Uncovered counts the newest records that no stored checkpoint
	// covers yet, from seq UncoveredFrom (normal for the records of the last
	// few seconds; a damage of kind uncovered while checkpointing fails).
	Uncovered     int64 `json:"uncovered"`
	UncoveredFrom int64 `json:"uncovered_from,omitempty"`
}

// AuditReport is the result of [Ledger.VerifyAudit].
type AuditReport struct {
	OK                  bool          `json:"ok"`
	Records             int64         `json:"records"`
	Chains              []ChainReport `json:"chains"`
	ExternalCheckpoints int           `json:"external_checkpoints"`
	Damage              []AuditDamage `json:"damage"`
	// CheckpointFailure is set while this node's checkpoints fail (known
	// to the process that verifies: serve's GET /v1/audit/verify).
	CheckpointFailure *CheckpointFailure `json:"checkpoint_failure,omitempty"`
}

// VerifyAuditOptions tunes [Ledger.VerifyAudit].
type VerifyAuditOptions struct {
	// Checkpoints are signed notes kept outside the database (for example
	// copies of checkpoints.log); the ledger must extend each of them.
	Checkpoints [][]byte
	// Progress, if set, is called now and then with records done and total.
	Progress func(done, total int64)
}

// cpRef is a checkpoint to compare the recomputed tree against.
type cpRef struct {
	size     int64
	root     tlog.Hash
	external bool
}

// VerifyAudit recomputes every chain's leaves and Merkle tree from the
// stored records, checks every stored checkpoint's signature and root (which
// also proves consecutive checkpoints consistent), and checks that the
// ledger extends every external checkpoint. It reports damage; the error is
// for failures to read.
func (l *Ledger) VerifyAudit(ctx context.Context, opt VerifyAuditOptions) (*AuditReport, error) {
	verifiers := note.VerifierList(l.auditVerifier)
	rep := &AuditReport{Damage: []AuditDamage{}}
	chains, err := l.db.Chains(ctx)
	if err != nil {
		if l.isDamage(err) {
			rep.add(DamageDamaged, "", 0, "the chains cannot be listed: "+err.Error())
			return rep, nil
		}
		return nil, err
	}
	// External notes, by chain.
	external := map[string][]cpRef{}
	for _, n := range opt.Checkpoints {
		rep.ExternalCheckpoints++
		origin, ref, err := openCheckpoint(n, verifiers)
		chain := chainOfOrigin(origin)
		if err != nil {
			rep.add(DamageBadSignature, chain, ref.size, "external checkpoint: "+err.Error())
			continue
		}
		ref.external = true
		external[chain] = append(external[chain], ref)
		if !slices.Contains(chains, chain) {
			rep.add(DamageTruncated, chain, 1, fmt.Sprintf("chain is missing; a trusted checkpoint has %d records", ref.size))
		}
	}
	var total int64
	sizes := map[string]int64{}
	for _, c := range chains {
		if sizes[c], err = l.db.TreeSize(ctx, c); err != nil {
			if l.isDamage(err) {
				rep.add(DamageDamaged, c, 0, "the chain's size cannot be read: "+err.Error())
				return rep, nil
			}
			return nil, err
		}
		total += sizes[c]
	}
	var done int64
	for _, chain := range chains {
		cr, err := l.verifyChain(ctx, chain, sizes[chain], external[chain], verifiers, rep, func(n int64) {
			if opt.Progress != nil {
				opt.Progress(done+n, total)
			}
		})
		if err != nil {
			return nil, err
		}
		done += cr.Records
		rep.Records += cr.Records
		rep.Chains = append(rep.Chains, *cr)
	}
	if opt.Progress != nil {
		opt.Progress(done, total)
	}
	if f := l.cpFailure(); f != nil {
		rep.CheckpointFailure = f
		for _, cr := range rep.Chains {
			if cr.Chain == l.cfg.NodeID && cr.Uncovered > 0 {
				rep.add(DamageUncovered, cr.Chain, cr.UncoveredFrom, fmt.Sprintf("records %d..%d are not covered by any checkpoint and checkpointing fails since %s (%d attempts): %s", cr.UncoveredFrom, cr.Records, f.Since.Format(time.RFC3339), f.Attempts, f.Err))
			}
		}
	}
	rep.OK = len(rep.Damage) == 0
	return rep, nil
}

func (r *AuditReport) add(kind, chain string, seq int64, detail string) {
	for _, d := range r.Damage {
		if d.Kind == kind && d.Chain == chain && d.Seq == seq {
			return
		}
	}
	r.Damage = append(r.Damage, AuditDamage{Kind: kind, Chain: chain, Seq: seq, Detail: detail})
}

// firstDamage is the smallest seq with damage in chain, or 0.
func (r *AuditReport) firstDamage(chain string) int64 {
	var first int64
	for _, d := range r.Damage {
		if d.Chain == chain && (first == 0 || d.Seq < first) {
			first = d.Seq
		}
	}
	return first
}

func chainOfOrigin(origin string) string {
	if c, ok := bytes.CutPrefix([]byte(origin), []byte("jwtledger/")); ok {
		return string(c)
	}
	return origin
}

// openCheckpoint verifies a signed checkpoint note and parses it.
func openCheckpoint(n []byte, verifiers note.Verifiers) (string, cpRef, error) {
	opened, err := note.Open(n, verifiers)
	if err != nil {
		// Still try to say which size the bad note claims.
		text, _, _ := bytes.Cut(n, []byte("\n\n"))
		origin, size, root, _ := audit.ParseCheckpoint(string(text) + "\n")
		return origin, cpRef{size: size, root: root}, fmt.Errorf("signature does not verify: %v", err)
	}
	origin, size, root, err := audit.ParseCheckpoint(opened.Text)
	if err != nil {
		return "", cpRef{}, err
	}
	return origin, cpRef{size: size, root: root}, nil
}

func (l *Ledger) verifyChain(ctx context.Context, chain string, size int64, external []cpRef, verifiers note.Verifiers, rep *AuditReport, progress func(int64)) (*ChainReport, error) {
	c := newChainCheck(chain, rep, progress)
	stored, err := l.db.Checkpoints(ctx, chain)
	if err != nil {
		if !l.isDamage(err) {
			return nil, err
		}
		rep.add(DamageDamaged, chain, 0, "the chain's checkpoints cannot be read: "+err.Error())
		stored = nil
	}
	for _, cp := range stored {
		c.addStored(cp.Note, cp.Size, cp.Root, verifiers)
	}
	for _, ref := range external {
		c.addTarget(ref)
	}
	c.checkSize(size)
	// The tree still has the leaf hashes of missing records.
	hashes := l.db.HashReader(ctx, chain)
	c.missingLeaf = func(n int64) (tlog.Hash, error) {
		h, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, n-1)})
		if err != nil {
			return tlog.Hash{}, err
		}
		return h[0], nil
	}
	if err := scanPipelined(ctx, l.db.ScanChain, chain, c.record); err != nil {
		if !l.isDamage(err) {
			return nil, err
		}
		// Say what can be read around the damage; the tree cannot be
		// checked past it.
		rep.add(DamageDamaged, chain, c.expected, l.readAround(ctx, chain, c.expected, size, err))
		return c.cr, nil
	}
	c.cr.Root = c.front.root()
	// The stored tree hashes (used for proofs and new checkpoints) must give
	// the same root as the records.
	// Records are appended without their tree hashes; extend the tree first
	// (a missing record stops it, and is reported above).
	built, berr := l.db.BuildTree(ctx, chain)
	if berr == nil && size > 0 && built >= size {
		if th, err := tlog.TreeHash(size, hashes); err != nil && l.isDamage(err) {
			rep.add(DamageDamaged, chain, 0, "the stored tree hashes cannot be read: "+err.Error())
		} else if (err != nil || th != c.cr.Root) && rep.firstDamage(chain) == 0 {
			rep.add(DamageModified, chain, c.lastGood+1, "the stored tree hashes do not match the records")
		}
	}
	var newest int64
	for _, cp := range stored {
		newest = max(newest, cp.Size)
	}
	if size > newest {
		c.cr.Uncovered, c.cr.UncoveredFrom = size-newest, newest+1
		if berr != nil && l.isDamage(berr) {
			rep.add(DamageDamaged, chain, newest+1, fmt.Sprintf("records %d..%d are not covered by any checkpoint, and the stored tree cannot be extended: %v", newest+1, size, berr))
		} else if berr != nil && rep.firstDamage(chain) == 0 {
			// No checkpoint can be made past this: the tail could be cut
			// undetected.
			rep.add(DamageUncovered, chain, newest+1, fmt.Sprintf("records %d..%d are not covered by any checkpoint, and the tree cannot be built for a new one: %v", newest+1, size, berr))
		}
	}
	return c.cr, nil
}

// chainCheck verifies one chain from its rows in seq order, whatever they
// are read from (the database, an export file).
type chainCheck struct {
	chain    string
	rep      *AuditReport
	cr       *ChainReport
	targets  map[int64][]cpRef
	front    frontier
	lastGood int64 // size of the newest checkpoint that matched
	expected int64
	broken   bool // a gap with no leaf hash: the tree cannot be recomputed past it
	progress func(int64)
	// missingLeaf returns the stored leaf hash of a missing record n; nil
	// when there is none to be had.
	missingLeaf func(n int64) (tlog.Hash, error)
}

func newChainCheck(chain string, rep *AuditReport, progress func(int64)) *chainCheck {
	if progress == nil {
		progress = func(int64) {}
	}
	return &chainCheck{chain: chain, rep: rep, cr: &ChainReport{Chain: chain}, targets: map[int64][]cpRef{}, expected: 1, progress: progress}
}

// addStored adds a checkpoint kept with the log (database row or export
// line) after checking its signature and that the row agrees with the note.
func (c *chainCheck) addStored(n []byte, size int64, root tlog.Hash, verifiers note.Verifiers) {
	c.cr.Checkpoints++
	origin, ref, err := openCheckpoint(n, verifiers)
	if err != nil {
		c.rep.add(DamageBadSignature, c.chain, size, fmt.Sprintf("checkpoint of %d records: %v", size, err))
		return
	}
	if chainOfOrigin(origin) != c.chain || ref.size != size || ref.root != root {
		c.rep.add(DamageModified, c.chain, size, fmt.Sprintf("checkpoint row of %d records does not match its signed note", size))
	}
	c.addTarget(ref)
}

func (c *chainCheck) addTarget(ref cpRef) { c.targets[ref.size] = append(c.targets[ref.size], ref) }

// checkSize reports checkpoints larger than the chain.
func (c *chainCheck) checkSize(size int64) {
	for s := range c.targets {
		if s > size {
			c.rep.add(DamageTruncated, c.chain, size+1, fmt.Sprintf("chain has %d records, a checkpoint has %d", size, s))
		}
	}
}

func (c *chainCheck) checkTargets(n int64) {
	for _, ref := range c.targets[n] {
		if !c.broken && c.front.root() == ref.root {
			c.lastGood = n
			continue
		}
		if f := c.rep.firstDamage(c.chain); f != 0 && f <= n {
			continue // a consequence of damage already reported
		}
		if ref.external {
			c.rep.add(DamageFork, c.chain, n, fmt.Sprintf("the tree of %d records differs from a trusted checkpoint's", n))
		} else {
			c.rep.add(DamageModified, c.chain, c.lastGood+1, fmt.Sprintf("records %d..%d differ from the checkpoint of %d records", c.lastGood+1, n, n))
		}
	}
}

var errNoLeaf = errors.New("no leaf hash for a missing record")

// record checks the row of record seq; body is nil for a pruned record.
func (c *chainCheck) record(seq int64, body, leaf []byte) error {
	if seq < c.expected {
		c.rep.add(DamageReordered, c.chain, seq, fmt.Sprintf("record %d appears again after record %d", seq, c.expected-1))
		return nil
	}
	if c.expected < seq {
		what := fmt.Sprintf("record %d is missing", c.expected)
		if seq-c.expected > 1 {
			what = fmt.Sprintf("records %d..%d are missing", c.expected, seq-1)
		}
		c.rep.add(DamageMissing, c.chain, c.expected, what)
		for ; c.expected < seq; c.expected++ {
			var h tlog.Hash
			err := errNoLeaf
			if c.missingLeaf != nil && !c.broken {
				h, err = c.missingLeaf(c.expected)
			}
			if err != nil {
				// No leaf hash to stand in: the tree cannot be recomputed
				// past the gap, so skip it in one step (a hostile seq can
				// be close to 2^63).
				c.broken = true
				c.expected = seq
				break
			}
			c.front.push(h)
			c.checkTargets(c.expected)
		}
	}
	var h tlog.Hash
	if body == nil {
		c.cr.Pruned++
		copy(h[:], leaf)
	} else {
		h = tlog.RecordHash(body)
		if bseq, ok := bodySeq(body, c.chain); !ok || bseq != seq {
			c.rep.add(DamageReordered, c.chain, seq, fmt.Sprintf("record at position %d says it is record %d", seq, bseq))
		} else if !bytes.Equal(h[:], leaf) {
			c.rep.add(DamageModified, c.chain, seq, fmt.Sprintf("record %d does not match its leaf hash", seq))
		}
	}
	c.front.push(h)
	c.checkTargets(seq)
	c.expected = seq + 1
	c.cr.Records++
	if c.cr.Records%16384 == 0 {
		c.progress(c.cr.Records)
	}
	return nil
}

// scanRow is one audit row copied out of the database for verification.
type scanRow struct {
	seq        int64
	body, leaf []byte // body nil: pruned
}

type scanChunk struct {
	rows  []scanRow
	arena []byte
}

// scanPipelined reads a chain's rows on this goroutine and hands them, in
// chunks, to process on another: reading (SQLite) and hashing overlap.
func scanPipelined(ctx context.Context, scan func(context.Context, string, func(int64, []byte, []byte) error) error, chain string, process func(seq int64, body, leaf []byte) error) error {
	const rowsPerChunk = 2048
	full := make(chan *scanChunk, 4)
	free := make(chan *scanChunk, 6)
	for range cap(free) {
		free <- &scanChunk{rows: make([]scanRow, 0, rowsPerChunk), arena: make([]byte, 0, rowsPerChunk*512)}
	}
	var procErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range full {
			for _, r := range c.rows {
				if procErr == nil {
					procErr = process(r.seq, r.body, r.leaf)
				}
			}
			c.rows, c.arena = c.rows[:0], c.arena[:0]
			free <- c
		}
	}()
	cur := <-free
	send := func() {
		full <- cur
		cur = <-free
	}
	scanErr := scan(ctx, chain, func(seq int64, body, leaf []byte) error {
		// Copy into the chunk's arena; slices into it stay valid because
		// the arena never grows past its capacity (a new chunk starts first).
		if len(cur.rows) == cap(cur.rows) || cap(cur.arena)-len(cur.arena) < len(body)+len(leaf) {
			if len(cur.rows) > 0 {
				send()
			}
			if need := len(body) + len(leaf); cap(cur.arena) < need {
				cur.arena = make([]byte, 0, need)
			}
		}
		r := scanRow{seq: seq}
		if body != nil {
			start := len(cur.arena)
			cur.arena = append(cur.arena, body...)
			r.body = cur.arena[start:len(cur.arena):len(cur.arena)]
		}
		start := len(cur.arena)
		cur.arena = append(cur.arena, leaf...)
		r.leaf = cur.arena[start:len(cur.arena):len(cur.arena)]
		cur.rows = append(cur.rows, r)
		return nil
	})
	if len(cur.rows) > 0 {
		full <- cur
	}
	close(full)
	<-done
	if scanErr != nil {
		return scanErr
	}
	return procErr
}

// bodySeq reads seq from a canonical record without decoding all of it, and
// checks that the record names chain.
func bodySeq(body []byte, chain string) (int64, bool) {
	const prefix = `{"v":1,"seq":`
	if !bytes.HasPrefix(body, []byte(prefix)) {
		return 0, false
	}
	rest := body[len(prefix):]
	i := bytes.IndexByte(rest, ',')
	if i <= 0 {
		return 0, false
	}
	seq, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, false
	}
	rest = rest[i:]
	want := `,"chain":"` + chain + `"`
	if !bytes.HasPrefix(rest, []byte(want)) {
		r, err := audit.Decode(body) // unusual chain spelling: decode fully
		if err != nil || r.Chain != chain {
			return seq, false
		}
	}
	return seq, true
}

// frontier holds the roots of the complete subtrees of a growing RFC 6962
// tree: enough to give the tree head at every size in O(log n) memory.
type frontier struct {
	hashes []tlog.Hash
	sizes  []int64
}

func (f *frontier) push(h tlog.Hash) {
	f.hashes = append(f.hashes, h)
	f.sizes = append(f.sizes, 1)
	for n := len(f.sizes); n >= 2 && f.sizes[n-2] == f.sizes[n-1]; n = len(f.sizes) {
		f.hashes[n-2] = tlog.NodeHash(f.hashes[n-2], f.hashes[n-1])
		f.sizes[n-2] *= 2
		f.hashes, f.sizes = f.hashes[:n-1], f.sizes[:n-1]
	}
}

func (f *frontier) root() tlog.Hash {
	if len(f.hashes) == 0 {
		return tlog.Hash{}
	}
	h := f.hashes[len(f.hashes)-1]
	for i := len(f.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.hashes[i], h)
	}
	return h
}

func (l *Ledger) isDamage(err error) bool {
	d := l.caps.Damage
	ok := d != nil
	return errors.Is(err, store.ErrDamaged) || ok && d.IsDamage(err)
}

// readAround reads the records of chain after a damaged one at seq first,
// and says which seq ranges can be read and which cannot.
func (l *Ledger) readAround(ctx context.Context, chain string, first, size int64, cause error) string {
	readable := []string{}
	if first > 1 {
		readable = append(readable, fmt.Sprintf("1..%d", first-1))
	}
	unreadable := []string{}
	d := l.caps.Damage
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
