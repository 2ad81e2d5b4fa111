// Package auditlog is the ledger's tamper-evident log over its store:
// verifying the stored chains against their signed checkpoints, exporting
// them for offline verification, and pruning old record bodies. The
// formats and the checks themselves are the public auditor package's; this
// package reads and writes the store.
package auditlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/store"
)

// Reader is what verification and export read from a store.
type Reader interface {
	Chains(ctx context.Context) ([]string, error)
	TreeSize(ctx context.Context, chain string) (int64, error)
	Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error)
	HashReader(ctx context.Context, chain string) tlog.HashReader
	ScanChain(ctx context.Context, chain string, fn func(seq int64, body, leaf []byte) error) error
	ScanChainTimes(ctx context.Context, chain string, fn func(seq, time int64, body, leaf []byte) error) error
	// BuildTree extends the stored tree hashes over the chain's records.
	BuildTree(ctx context.Context, chain string) (int64, error)
}

// Verify recomputes every chain's leaves and Merkle tree from the stored
// records, checks every stored checkpoint's signature (by verifierKey) and
// root (which also proves consecutive checkpoints consistent), and checks
// that the store extends every external checkpoint of opt. d, when not nil,
// tells a damaged store's errors and reads around the damage. rs, when not
// nil, reads the chains by seq range, several ranges at once, so that
// reading and checking use every core (see [auditor.ChainVerifier.ScanRanges]);
// without it one goroutine reads while the others check. It reports
// damage; the error is for failures to read.
func Verify(ctx context.Context, db Reader, d store.Damageable, rs store.RangeScanner, verifierKey string, opt auditor.VerifyOptions) (*auditor.LogReport, error) {
	isDamage := func(err error) bool { return errors.Is(err, store.ErrDamaged) || d != nil && d.IsDamage(err) }
	v, err := auditor.NewLogVerifier(verifierKey, opt)
	if err != nil {
		return nil, err
	}
	rep := v.Report()
	chains, err := db.Chains(ctx)
	if err != nil {
		if isDamage(err) {
			rep.Add(auditor.DamageDamaged, "", 0, "the chains cannot be listed: "+err.Error())
			return rep, nil
		}
		return nil, err
	}
	for _, e := range v.Externals() {
		if !contains(chains, e.Chain) {
			rep.Add(auditor.DamageTruncated, e.Chain, 1, fmt.Sprintf("chain is missing; a trusted checkpoint has %d records", e.Size))
		}
	}
	var total int64
	sizes := map[string]int64{}
	for _, c := range chains {
		if sizes[c], err = db.TreeSize(ctx, c); err != nil {
			if isDamage(err) {
				rep.Add(auditor.DamageDamaged, c, 0, "the chain's size cannot be read: "+err.Error())
				return rep, nil
			}
			return nil, err
		}
		total += sizes[c]
	}
	var done int64
	for _, chain := range chains {
		cr, err := verifyChain(ctx, db, d, rs, isDamage, v, chain, sizes[chain], func(n int64) {
			if opt.Progress != nil {
				opt.Progress(done+n, total)
			}
		})
		if err != nil {
			return nil, err
		}
		done += cr.Records
	}
	if opt.Progress != nil {
		opt.Progress(done, total)
	}
	v.CheckWitnessing()
	return v.Report(), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MarkUncovered adds to rep, while node's checkpoints fail (f not nil), a
// damage of kind uncovered for node's records no checkpoint covers.
func MarkUncovered(rep *auditor.LogReport, node string, f *auditor.CheckpointFailure) {
	if f == nil {
		return
	}
	rep.CheckpointFailure = f
	for _, cr := range rep.Chains {
		if cr.Chain == node && cr.Uncovered > 0 {
			rep.Add(auditor.DamageUncovered, cr.Chain, cr.UncoveredFrom, fmt.Sprintf("records %d..%d are not covered by any checkpoint and checkpointing fails since %s (%d attempts): %s", cr.UncoveredFrom, cr.Records, f.Since.Format(time.RFC3339), f.Attempts, f.Err))
		}
	}
	rep.OK = len(rep.Damage) == 0
}

func verifyChain(ctx context.Context, db Reader, d store.Damageable, rs store.RangeScanner, isDamage func(error) bool, v *auditor.LogVerifier, chain string, size int64, progress func(int64)) (*auditor.ChainReport, error) {
	c, err := v.Chain(chain, progress)
	if err != nil {
		return nil, err
	}
	rep := v.Report()
	stored, err := db.Checkpoints(ctx, chain)
	if err != nil {
		if !isDamage(err) {
			return nil, err
		}
		rep.Add(auditor.DamageDamaged, chain, 0, "the chain's checkpoints cannot be read: "+err.Error())
		stored = nil
	}
	cps := make([]auditor.StoredCheckpoint, len(stored))
	for i, cp := range stored {
		cps[i] = auditor.StoredCheckpoint{Note: cp.Note, Size: cp.Size, Root: cp.Root}
	}
	c.Checkpoints(cps)
	c.CheckSize(size)
	// The tree still has the leaf hashes of missing records.
	hashes := db.HashReader(ctx, chain)
	c.MissingLeaf = func(n int64) (tlog.Hash, error) {
		h, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, n-1)})
		if err != nil {
			return tlog.Hash{}, err
		}
		return h[0], nil
	}
	// The findings are those of every row given to c.Record in seq order;
	// the work is spread over the cores.
	if rs != nil {
		err = c.ScanRanges(size, func(from, to int64, add func(seq int64, body, leaf []byte) error) error {
			return rs.ScanChainRange(ctx, chain, from, to, add)
		})
	} else {
		err = c.Scan(func(add func(seq int64, body, leaf []byte) error) error { return db.ScanChain(ctx, chain, add) })
	}
	if err != nil {
		if !isDamage(err) {
			return nil, err
		}
		// Say what can be read around the damage; the tree cannot be
		// checked past it.
		rep.Add(auditor.DamageDamaged, chain, c.Next(), readAround(ctx, d, chain, c.Next(), size, err))
		return c.Done(false), nil
	}
	cr := c.Done(true)
	// The stored tree hashes (used for proofs and new checkpoints) must give
	// the same root as the records.
	// Records are appended without their tree hashes; extend the tree first
	// (a missing record stops it, and is reported above).
	built, berr := db.BuildTree(ctx, chain)
	if berr == nil && size > 0 && built >= size {
		if th, err := tlog.TreeHash(size, hashes); err != nil && isDamage(err) {
			rep.Add(auditor.DamageDamaged, chain, 0, "the stored tree hashes cannot be read: "+err.Error())
		} else if (err != nil || th != cr.Root) && rep.FirstDamage(chain) == 0 {
			rep.Add(auditor.DamageModified, chain, c.LastGood()+1, "the stored tree hashes do not match the records")
		}
	}
	var newest int64
	for _, cp := range stored {
		newest = max(newest, cp.Size)
	}
	if size > newest {
		cr.Uncovered, cr.UncoveredFrom = size-newest, newest+1
		if berr != nil && isDamage(berr) {
			rep.Add(auditor.DamageDamaged, chain, newest+1, fmt.Sprintf("records %d..%d are not covered by any checkpoint, and the stored tree cannot be extended: %v", newest+1, size, berr))
		} else if berr != nil && rep.FirstDamage(chain) == 0 {
			// No checkpoint can be made past this: the tail could be cut
			// undetected.
			rep.Add(auditor.DamageUncovered, chain, newest+1, fmt.Sprintf("records %d..%d are not covered by any checkpoint, and the tree cannot be built for a new one: %v", newest+1, size, berr))
		}
	}
	return cr, nil
}
