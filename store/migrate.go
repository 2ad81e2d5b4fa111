package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// MigratedChain is one audit chain copied by [Migrate].
type MigratedChain struct {
	Chain       string    `json:"chain"`
	Records     int64     `json:"records"`
	Checkpoints int       `json:"checkpoints"`
	Root        tlog.Hash `json:"root"`
}

// MigrateReport is what [Migrate] copied and verified.
type MigrateReport struct {
	Keys        int             `json:"keys"`
	Clients     int             `json:"clients"`
	Revocations int             `json:"revocations"`
	Settings    int             `json:"settings"`
	Records     int64           `json:"records"`
	Chains      []MigratedChain `json:"chains"`
	Elapsed     time.Duration   `json:"elapsed_ns"`
}

// migrateBatch is how many records one import transaction carries.
const migrateBatch = 10000

// ErrNotEmpty is the error of [Migrate] for a target that already holds
// a ledger.
var ErrNotEmpty = errors.New("the target database already holds a ledger; migrate into an empty one")

// ErrNoImport is the error of [Migrate] for a target that cannot import.
var ErrNoImport = errors.New("the target store cannot import")

// MigrateSpecs is [Migrate] from the SQLite store from (sqlite:PATH) into
// the empty PostgreSQL store to (postgres://...), both opened by the
// backends the program imports (see [Open]).
func MigrateSpecs(ctx context.Context, from, to string, progress func(done, total int64)) (*MigrateReport, error) {
	if Scheme(from) != "sqlite" {
		return nil, errors.New("migrate copies from a SQLite store (sqlite:PATH)")
	}
	if s := Scheme(to); s != "postgres" && s != "postgresql" {
		return nil, errors.New("migrate copies into a PostgreSQL store (postgres://...)")
	}
	path := FilePath(from, "")
	if from == "" || from == "sqlite:" || path == "" {
		return nil, errors.New("name the SQLite file: --from sqlite:PATH")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("source store: %w", err)
	}
	src, err := Open(ctx, from, Options{})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", from, err)
	}
	defer src.Close()
	dst, err := Open(ctx, to, Options{})
	if err != nil {
		return nil, fmt.Errorf("open target: %w", err)
	}
	defer dst.Close()
	return Migrate(ctx, src, dst, progress)
}

// MigrateSource is what [Migrate] reads of the source store.
type MigrateSource interface {
	Records
	Trees
	Keys(ctx context.Context) ([]keys.Stored, error)
	Clients(ctx context.Context) ([]ClientRow, error)
	RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]Revocation, error)
	MetaAll(ctx context.Context) (map[string][]byte, error)
}

// Migrate copies everything in src into the empty store dst: settings
// (the sealed audit key among them), keys, clients, revocations, every
// audit chain record for record (pruned ones as leaf hashes) and its
// signed checkpoints. It then builds each chain's Merkle tree in the
// target and checks it against the source's tree and every checkpoint, so
// the result verifies with 'audit verify' (with the same master key).
// progress, if set, gets the records copied. The caller closes both
// stores.
func Migrate(ctx context.Context, src MigrateSource, dstStore Backend, progress func(done, total int64)) (*MigrateReport, error) {
	start := time.Now()
	dst := dstStore.Capabilities().Importer
	if dst == nil {
		return nil, ErrNoImport
	}
	if empty, err := dst.Empty(ctx); err != nil {
		return nil, err
	} else if !empty {
		return nil, ErrNotEmpty
	}

	rep := &MigrateReport{}
	meta, err := src.MetaAll(ctx)
	if err != nil {
		return nil, err
	}
	ks, err := src.Keys(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := src.Clients(ctx)
	if err != nil {
		return nil, err
	}
	revs, err := src.RevocationsSince(ctx, -1, time.Unix(0, 0))
	if err != nil {
		return nil, err
	}
	if err := dst.ImportMeta(ctx, meta); err != nil {
		return nil, err
	}
	if err := dst.ImportKeys(ctx, ks); err != nil {
		return nil, err
	}
	if err := dst.ImportClients(ctx, cs); err != nil {
		return nil, err
	}
	if err := dst.ImportRevocations(ctx, revs); err != nil {
		return nil, err
	}
	rep.Settings, rep.Keys, rep.Clients, rep.Revocations = len(meta), len(ks), len(cs), len(revs)

	chains, err := src.Chains(ctx)
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(chains))
	var total int64
	for i, c := range chains {
		if sizes[i], err = src.TreeSize(ctx, c); err != nil {
			return nil, err
		}
		total += sizes[i]
	}
	var done int64
	for i, chain := range chains {
		batch := make([]RawRecord, 0, migrateBatch)
		flush := func() error {
			if err := dst.ImportRecords(ctx, chain, batch); err != nil {
				return err
			}
			done += int64(len(batch))
			if progress != nil {
				progress(done, total)
			}
			batch = batch[:0]
			return nil
		}
		err := src.ScanChainTimes(ctx, chain, func(seq, t int64, body, leaf []byte) error {
			batch = append(batch, RawRecord{Seq: seq, Time: t, Body: append([]byte(nil), body...), Leaf: append([]byte(nil), leaf...)})
			if len(batch) == migrateBatch {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return nil, fmt.Errorf("copy chain %s: %w", chain, err)
		}
		cps, err := src.Checkpoints(ctx, chain)
		if err != nil {
			return nil, err
		}
		if err := dst.ImportCheckpoints(ctx, cps); err != nil {
			return nil, err
		}
		mc, err := checkMigratedChain(ctx, src, dstStore, chain, sizes[i], cps)
		if err != nil {
			return nil, err
		}
		rep.Chains = append(rep.Chains, *mc)
		rep.Records += mc.Records
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// checkMigratedChain builds chain's tree in both stores and checks that
// the target has the source's size and root, and every checkpoint's root.
func checkMigratedChain(ctx context.Context, src MigrateSource, dst Trees, chain string, size int64, cps []Checkpoint) (*MigratedChain, error) {
	srcSize, err := src.BuildTree(ctx, chain)
	if err != nil {
		return nil, fmt.Errorf("source chain %s: %w", chain, err)
	}
	dstSize, err := dst.BuildTree(ctx, chain)
	if err != nil {
		return nil, fmt.Errorf("migrated chain %s: %w", chain, err)
	}
	if srcSize < size || dstSize != srcSize {
		return nil, fmt.Errorf("migrated chain %s has %d records, the source %d", chain, dstSize, srcSize)
	}
	srcRoot, err := tlog.TreeHash(srcSize, src.HashReader(ctx, chain))
	if err != nil {
		return nil, err
	}
	dstRoot, err := tlog.TreeHash(dstSize, dst.HashReader(ctx, chain))
	if err != nil {
		return nil, err
	}
	if srcRoot != dstRoot {
		return nil, errors.New("migrated chain " + chain + ": its Merkle root differs from the source's")
	}
	for _, cp := range cps {
		root, err := tlog.TreeHash(cp.Size, dst.HashReader(ctx, chain))
		if err != nil || root != cp.Root {
			return nil, fmt.Errorf("migrated chain %s does not match its checkpoint of %d records", chain, cp.Size)
		}
	}
	return &MigratedChain{Chain: chain, Records: dstSize, Checkpoints: len(cps), Root: dstRoot}, nil
}
