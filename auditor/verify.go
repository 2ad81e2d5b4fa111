package auditor

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Kinds of [Damage] a verification reports.
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

// Damage is one finding of a verification, located at the first sequence
// number it affects.
type Damage struct {
	Kind   string `json:"kind"`
	Chain  string `json:"chain"`
	Seq    int64  `json:"seq"`
	Detail string `json:"detail"`
	// Witnesses names, for a fork, the policy witnesses that cosigned the
	// checkpoint the chain does not extend (see [LogReport.CheckWitnessing]).
	Witnesses []string `json:"witnesses,omitempty"`
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

// CheckpointFailure says since when, and why, a node's checkpoints fail.
type CheckpointFailure struct {
	Since    time.Time `json:"since"`
	Err      string    `json:"error"`
	Attempts int       `json:"attempts"`
}

// LogReport is the result of verifying a ledger's chains ([VerifyExport],
// a [LogVerifier], or the ledger's own verification of its store).
type LogReport struct {
	OK                  bool          `json:"ok"`
	Records             int64         `json:"records"`
	Chains              []ChainReport `json:"chains"`
	ExternalCheckpoints int           `json:"external_checkpoints"`
	Damage              []Damage      `json:"damage"`
	// CheckpointFailure is set while the verifying node's checkpoints
	// fail (known to the process that verifies its own store).
	CheckpointFailure *CheckpointFailure `json:"checkpoint_failure,omitempty"`
	// Witnessing is what a witness policy found, per chain, when the
	// verification was given one (see [LogReport.CheckWitnessing]).
	Witnessing []WitnessReport `json:"witnessing,omitempty"`
}

// Add reports a finding, once per kind, chain and seq.
func (r *LogReport) Add(kind, chain string, seq int64, detail string) {
	for _, d := range r.Damage {
		if d.Kind == kind && d.Chain == chain && d.Seq == seq {
			return
		}
	}
	r.Damage = append(r.Damage, Damage{Kind: kind, Chain: chain, Seq: seq, Detail: detail})
}

// FirstDamage is the smallest seq with damage in chain, or 0.
func (r *LogReport) FirstDamage(chain string) int64 {
	var first int64
	for _, d := range r.Damage {
		if d.Chain == chain && (first == 0 || d.Seq < first) {
			first = d.Seq
		}
	}
	return first
}

// VerifyOptions tunes a verification.
type VerifyOptions struct {
	// Checkpoints are signed notes kept outside the ledger (for example
	// copies of checkpoints.log, see [SplitNotes]); the ledger must extend
	// each of them.
	Checkpoints [][]byte
	// Progress, if set, is called now and then with records done and total.
	Progress func(done, total int64)
	// Witnesses, if set, is the witness policy the chains' checkpoints
	// are checked against (see [LogReport.CheckWitnessing]); with
	// RequireWitnessed a chain whose newest checkpoint is not witnessed is
	// a finding.
	Witnesses        *Policy
	RequireWitnessed bool
}

// cpRef is a checkpoint to compare the recomputed tree against.
type cpRef struct {
	size     int64
	root     tlog.Hash
	external bool
}

// A LogVerifier checks a ledger's chains from their rows, read in seq order
// from wherever they are kept (an export, a database), in memory that grows
// with the number of chains and checkpoints, not records. Make one with
// [NewLogVerifier], check each chain with [LogVerifier.Chain], then take
// [LogVerifier.Report].
type LogVerifier struct {
	verifiers note.Verifiers
	rep       *LogReport
	external  map[string][]cpRef
	order     []External
	seen      map[string]bool

	policy   *Policy
	require  bool
	notes    map[string][][]byte // the chains' checkpoint notes, with a policy
	chains   []string
	extNotes [][]byte
}

// NewLogVerifier returns a verifier of the chains whose checkpoints
// verifierKey (a note verifier key) signed, which must extend every
// checkpoint in opt.Checkpoints (opt.Progress is not used).
func NewLogVerifier(verifierKey string, opt VerifyOptions) (*LogVerifier, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	lv := &LogVerifier{verifiers: note.VerifierList(v), rep: &LogReport{Damage: []Damage{}}, external: map[string][]cpRef{}, seen: map[string]bool{},
		policy: opt.Witnesses, require: opt.RequireWitnessed, notes: map[string][][]byte{}, extNotes: opt.Checkpoints}
	for _, n := range opt.Checkpoints {
		lv.rep.ExternalCheckpoints++
		origin, ref, err := lv.openCheckpoint(n)
		chain := ChainOfOrigin(origin)
		if err != nil {
			lv.rep.Add(DamageBadSignature, chain, ref.size, "external checkpoint: "+err.Error())
			continue
		}
		ref.external = true
		lv.external[chain] = append(lv.external[chain], ref)
		lv.order = append(lv.order, External{Chain: chain, Size: ref.size})
	}
	return lv, nil
}

// External is a verified external checkpoint: its chain and size.
type External struct {
	Chain string
	Size  int64
}

// Externals returns the external checkpoints whose signature verified, in
// the order given.
func (v *LogVerifier) Externals() []External { return v.order }

// CheckWitnessing checks, when the options gave a witness policy, every
// chain's checkpoints against it (see [LogReport.CheckWitnessing]). Call it
// once, after the last chain is done.
func (v *LogVerifier) CheckWitnessing() {
	if v.policy == nil {
		return
	}
	v.rep.Witnessing = []WitnessReport{}
	for _, chain := range v.chains {
		v.rep.CheckWitnessing(v.policy, chain, v.notes[chain], v.extNotes, v.require)
	}
}

// Report returns the findings so far. OK is set when there are none.
func (v *LogVerifier) Report() *LogReport {
	v.rep.OK = len(v.rep.Damage) == 0
	return v.rep
}

// Origin is the checkpoint origin line of a jwtledger chain: it names the
// ledger software and the chain (node).
func Origin(chain string) string { return "jwtledger/" + chain }

// ChainOfOrigin is the chain a checkpoint origin names (see [Origin]).
func ChainOfOrigin(origin string) string {
	if c, ok := bytes.CutPrefix([]byte(origin), []byte("jwtledger/")); ok {
		return string(c)
	}
	return origin
}

// openCheckpoint verifies a signed checkpoint note and parses it.
func (v *LogVerifier) openCheckpoint(n []byte) (string, cpRef, error) {
	opened, err := note.Open(n, v.verifiers)
	if err != nil {
		// Still try to say which size the bad note claims.
		text, _, _ := bytes.Cut(n, []byte("\n\n"))
		c, _ := ParseCheckpoint(string(text) + "\n")
		return c.Origin, cpRef{size: c.Size, root: c.Root}, fmt.Errorf("signature does not verify: %v", err)
	}
	c, err := ParseCheckpoint(opened.Text)
	if err != nil {
		return "", cpRef{}, err
	}
	return c.Origin, cpRef{size: c.Size, root: c.Root}, nil
}

// Chain starts the check of one chain; progress, if not nil, is called now
// and then with the records done. Each chain is checked once: give its
// checkpoints, then its records in seq order, then call [ChainVerifier.Done].
func (v *LogVerifier) Chain(chain string, progress func(records int64)) (*ChainVerifier, error) {
	if v.seen[chain] {
		return nil, fmt.Errorf("chain %q appears twice", chain)
	}
	v.seen[chain] = true
	v.chains = append(v.chains, chain)
	if progress == nil {
		progress = func(int64) {}
	}
	c := &ChainVerifier{v: v, chain: chain, chainField: chainField(chain), rep: v.rep, cr: &ChainReport{Chain: chain}, targets: map[int64][]cpRef{}, expected: 1, progress: progress}
	for _, ref := range v.external[chain] {
		c.addTarget(ref)
	}
	return c, nil
}

// Missing reports, as truncated, the chains of external checkpoints that no
// [LogVerifier.Chain] call checked.
func (v *LogVerifier) Missing() {
	for chain, refs := range v.external {
		if !v.seen[chain] && len(refs) > 0 {
			v.rep.Add(DamageTruncated, chain, 1, "chain is missing from the export")
		}
	}
}

// A ChainVerifier checks one chain, see [LogVerifier.Chain].
type ChainVerifier struct {
	v          *LogVerifier
	chain      string
	chainField []byte // `,"chain":"CHAIN"`, as canonical records spell it
	rep        *LogReport
	cr         *ChainReport
	targets    map[int64][]cpRef
	front      frontier
	lastGood   int64 // size of the newest checkpoint that matched
	expected   int64
	broken     bool // a gap with no leaf hash: the tree cannot be recomputed past it
	progress   func(int64)
	// MissingLeaf, if set, returns the stored leaf hash of a missing record
	// n, so the tree can still be checked past a gap.
	MissingLeaf func(n int64) (tlog.Hash, error)
}

// Checkpoint adds a checkpoint kept with the log (database row or export
// line) after checking its signature and that the row (size, root) agrees
// with the note.
func (c *ChainVerifier) Checkpoint(n []byte, size int64, root tlog.Hash) {
	origin, ref, err := c.v.openCheckpoint(n)
	c.checkpoint(n, size, root, origin, ref, err)
}

// A StoredCheckpoint is a checkpoint kept with the log: its signed note,
// and the size and root hash kept beside it.
type StoredCheckpoint struct {
	Note []byte
	Size int64
	Root tlog.Hash
}

// Checkpoints is [ChainVerifier.Checkpoint] for each of cps, in order, with
// the same findings; the signatures are checked on every core (a chain
// has a checkpoint every thousand records or so, each an Ed25519
// verification).
func (c *ChainVerifier) Checkpoints(cps []StoredCheckpoint) {
	type opened struct {
		origin string
		ref    cpRef
		err    error
	}
	res := make([]opened, len(cps))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(cps)/64+1) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(cps); i = int(next.Add(1) - 1) {
				o := &res[i]
				o.origin, o.ref, o.err = c.v.openCheckpoint(cps[i].Note)
			}
		})
	}
	wg.Wait()
	for i, cp := range cps {
		c.checkpoint(cp.Note, cp.Size, cp.Root, res[i].origin, res[i].ref, res[i].err)
	}
}

// checkpoint is Checkpoint with the note opened (openCheckpoint).
func (c *ChainVerifier) checkpoint(n []byte, size int64, root tlog.Hash, origin string, ref cpRef, err error) {
	c.cr.Checkpoints++
	if c.v.policy != nil {
		c.v.notes[c.chain] = append(c.v.notes[c.chain], n)
	}
	if err != nil {
		c.rep.Add(DamageBadSignature, c.chain, size, fmt.Sprintf("checkpoint of %d records: %v", size, err))
		return
	}
	if ChainOfOrigin(origin) != c.chain || ref.size != size || ref.root != root {
		c.rep.Add(DamageModified, c.chain, size, fmt.Sprintf("checkpoint row of %d records does not match its signed note", size))
	}
	c.addTarget(ref)
}

func (c *ChainVerifier) addTarget(ref cpRef) { c.targets[ref.size] = append(c.targets[ref.size], ref) }

// CheckSize reports the checkpoints larger than the chain's size, naming
// the largest.
func (c *ChainVerifier) CheckSize(size int64) {
	largest := size
	for s := range c.targets {
		largest = max(largest, s)
	}
	if largest > size {
		c.rep.Add(DamageTruncated, c.chain, size+1, fmt.Sprintf("chain has %d records, a checkpoint has %d", size, largest))
	}
}

func (c *ChainVerifier) checkTargets(n int64) { c.checkTargetsRoot(n, c.front.root) }

// checkTargetsRoot is checkTargets with the tree head of n records given
// by root (called only when a checkpoint of n records needs it).
func (c *ChainVerifier) checkTargetsRoot(n int64, root func() tlog.Hash) {
	for _, ref := range c.targets[n] {
		if !c.broken && root() == ref.root {
			c.lastGood = n
			continue
		}
		if f := c.rep.FirstDamage(c.chain); f != 0 && f <= n {
			continue // a consequence of damage already reported
		}
		if ref.external {
			c.rep.Add(DamageFork, c.chain, n, fmt.Sprintf("the tree of %d records differs from a trusted checkpoint's", n))
		} else {
			c.rep.Add(DamageModified, c.chain, c.lastGood+1, fmt.Sprintf("records %d..%d differ from the checkpoint of %d records", c.lastGood+1, n, n))
		}
	}
}

var errNoLeaf = errors.New("no leaf hash for a missing record")

// Outcomes of the check of one row on its own ([rowCheck]).
const (
	rowOK         = iota // the body hashes to the stored leaf and says its seq
	rowPruned            // no body: the stored leaf hash stands in
	rowBadSeq            // the body says another seq (or another chain)
	rowUnreadable        // no seq can be read from the body: not a canonical encoding
	rowBadLeaf           // the body does not hash to the stored leaf
)

// rowCheck is what the check of one row found without looking at any other
// row: the leaf hash to fold into the tree and whether the row agrees with
// itself. It depends only on the row and the chain's name, so rows can be
// checked in any order, on any goroutine; what depends on the order
// (gaps, repeats, the tree) is [ChainVerifier.fold]'s.
type rowCheck struct {
	leaf    tlog.Hash
	bodySeq int64
	outcome uint8
}

// checkRow checks the row of record seq; h is the RFC 6962 leaf hash of body
// (tlog.RecordHash), unused when body is nil (pruned).
func (c *ChainVerifier) checkRow(seq int64, body, leaf []byte, h tlog.Hash) rowCheck {
	return checkRow(c.chain, c.chainField, seq, body, leaf, h)
}

// checkRow is [ChainVerifier.checkRow] for chain; chainField is
// `,"chain":"CHAIN"`.
func checkRow(chain string, chainField []byte, seq int64, body, leaf []byte, h tlog.Hash) rowCheck {
	var r rowCheck
	if body == nil {
		r.outcome = rowPruned
		copy(r.leaf[:], leaf)
		return r
	}
	r.leaf = h
	var ok bool
	switch r.bodySeq, ok = bodySeq(body, chain, chainField); {
	case !ok && r.bodySeq == 0: // seqs start at 1
		r.outcome = rowUnreadable
	case !ok || r.bodySeq != seq:
		r.outcome = rowBadSeq
	case !bytes.Equal(h[:], leaf):
		r.outcome = rowBadLeaf
	}
	return r
}

// Record checks the row of record seq: its canonical encoding body (nil for
// a pruned record) and its stored leaf hash. Rows come in seq order.
// [ChainVerifier.Scan] makes the same checks on several cores.
func (c *ChainVerifier) Record(seq int64, body, leaf []byte) error {
	if seq < c.expected {
		c.fold(seq, rowCheck{}) // a repeat: its own check is not used
		return nil
	}
	var h tlog.Hash
	if body != nil {
		h = tlog.RecordHash(body)
	}
	c.fold(seq, c.checkRow(seq, body, leaf, h))
	return nil
}

// fold takes the next row, seq, in the order rows come, with what its own
// check found: it reports repeats and gaps, folds the leaf into the tree
// and compares the tree with the checkpoints of that size.
func (c *ChainVerifier) fold(seq int64, r rowCheck) {
	if seq < c.expected {
		c.rep.Add(DamageReordered, c.chain, seq, fmt.Sprintf("record %d appears again after record %d", seq, c.expected-1))
		return
	}
	if c.expected < seq {
		what := fmt.Sprintf("record %d is missing", c.expected)
		if seq-c.expected > 1 {
			what = fmt.Sprintf("records %d..%d are missing", c.expected, seq-1)
		}
		c.rep.Add(DamageMissing, c.chain, c.expected, what)
		for ; c.expected < seq; c.expected++ {
			var h tlog.Hash
			err := errNoLeaf
			if c.MissingLeaf != nil && !c.broken {
				h, err = c.MissingLeaf(c.expected)
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
	c.report(seq, r)
	c.front.push(r.leaf)
	c.checkTargets(seq)
	c.expected = seq + 1
	c.cr.Records++
	if c.cr.Records%16384 == 0 {
		c.progress(c.cr.Records)
	}
}

// report reports what the check of row seq found on its own.
func (c *ChainVerifier) report(seq int64, r rowCheck) {
	switch r.outcome {
	case rowPruned:
		c.cr.Pruned++
	case rowBadSeq:
		c.rep.Add(DamageReordered, c.chain, seq, fmt.Sprintf("record at position %d says it is record %d", seq, r.bodySeq))
	case rowBadLeaf:
		c.rep.Add(DamageModified, c.chain, seq, fmt.Sprintf("record %d does not match its leaf hash", seq))
	case rowUnreadable:
		c.rep.Add(DamageModified, c.chain, seq, fmt.Sprintf("record %d is not a record encoding: it cannot be read", seq))
	}
}

// Next is the seq of the record the chain expects next.
func (c *ChainVerifier) Next() int64 { return c.expected }

// LastGood is the size of the newest checkpoint the records matched.
func (c *ChainVerifier) LastGood() int64 { return c.lastGood }

// Report is the chain's summary so far; its Root is set by Done.
func (c *ChainVerifier) Report() *ChainReport { return c.cr }

// Done ends the chain's check, sets its recomputed root and adds its
// summary to the log's report. A chain whose rows could not all be read is
// ended with rootKnown false: its root is left unset.
func (c *ChainVerifier) Done(rootKnown bool) *ChainReport {
	if rootKnown {
		c.cr.Root = c.front.root()
	}
	c.rep.Records += c.cr.Records
	c.rep.Chains = append(c.rep.Chains, *c.cr)
	return &c.rep.Chains[len(c.rep.Chains)-1]
}

// chainField is the member that names chain in its canonical records.
func chainField(chain string) []byte { return []byte(`,"chain":"` + chain + `"`) }

// bodySeq reads seq from a canonical record without decoding all of it, and
// checks that the record names chain; chainField is `,"chain":"CHAIN"`.
func bodySeq(body []byte, chain string, chainField []byte) (int64, bool) {
	const prefix = `{"v":1,"seq":`
	if !bytes.HasPrefix(body, []byte(prefix)) {
		return 0, false
	}
	rest := body[len(prefix):]
	i := bytes.IndexByte(rest, ',')
	if i <= 0 {
		return 0, false
	}
	seq, err := parseSeq(rest[:i])
	if err != nil {
		return 0, false
	}
	rest = rest[i:]
	if !bytes.HasPrefix(rest, chainField) {
		r, err := Decode(body) // unusual chain spelling: decode fully
		if err != nil || r.Chain != chain {
			return seq, false
		}
	}
	return seq, true
}

// parseSeq is strconv.ParseInt(string(b), 10, 64), without the call for
// the usual case, up to 18 decimal digits (no sign), which cannot overflow.
func parseSeq(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// frontier holds the roots of the complete subtrees of a growing RFC 6962
// tree: enough to give the tree head at every size in O(log n) memory.
type frontier struct {
	hashes []tlog.Hash
	sizes  []int64
}

func (f *frontier) push(h tlog.Hash) { f.pushTree(h, 1) }

// pushTree adds the root h of a complete subtree of size leaves (a power of
// two) whose first leaf is at a multiple of size: the frontier is then as if
// its leaves had been pushed one by one.
func (f *frontier) pushTree(h tlog.Hash, size int64) {
	f.hashes = append(f.hashes, h)
	f.sizes = append(f.sizes, size)
	for n := len(f.sizes); n >= 2 && f.sizes[n-2] == f.sizes[n-1]; n = len(f.sizes) {
		f.hashes[n-2] = tlog.NodeHash(f.hashes[n-2], f.hashes[n-1])
		f.sizes[n-2] *= 2
		f.hashes, f.sizes = f.hashes[:n-1], f.sizes[:n-1]
	}
}

func (f *frontier) root() tlog.Hash { return f.rootWith(nil) }

// rootWith is the tree head of the frontier followed by the subtree roots
// more (a later part of the tree, each smaller than every subtree of f).
func (f *frontier) rootWith(more []tlog.Hash) tlog.Hash {
	if len(f.hashes)+len(more) == 0 {
		return tlog.Hash{}
	}
	var h tlog.Hash
	if len(more) > 0 {
		h = more[len(more)-1]
		for i := len(more) - 2; i >= 0; i-- {
			h = tlog.NodeHash(more[i], h)
		}
	} else {
		h = f.hashes[len(f.hashes)-1]
		f = &frontier{hashes: f.hashes[:len(f.hashes)-1]}
	}
	for i := len(f.hashes) - 1; i >= 0; i-- {
		h = tlog.NodeHash(f.hashes[i], h)
	}
	return h
}
