package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/store"
	_ "github.com/jwtledger/jwtledger/store/postgres" // --store postgres://...
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// The command wires the store backends: --store sqlite:PATH (the default)
// and --store postgres://... open through the backends imported here; a
// local ledger uses their registered openers, serve the embedded store's
// with its own options (serveStore).

// serveStore is the opener serve gives the ledger for spec: the embedded
// store with rawSync (see sqlite.Options.RawSync) when spec names one,
// else nil (the registered opener, which syncs raw when GOMAXPROCS > 1).
func serveStore(spec string, rawSync bool) store.Opener {
	if store.Scheme(spec) != "sqlite" || !rawSync {
		return nil
	}
	return sqlite.Opener(sqlite.Options{RawSync: true})
}

var storeCmd = &command{
	name:    "store",
	summary: "move a ledger between stores (migrate), rewrite old records packed (repack)",
	subs: []*command{{
		name:    "migrate",
		summary: "Copy a whole ledger from a SQLite file into an empty PostgreSQL database, and check it there.",
		doc: `Copies a whole ledger from a SQLite file into an empty PostgreSQL database:
settings (the sealed audit key), keys, clients, revocations, every audit
chain record for record (pruned records as their leaf hashes) and its signed
checkpoints. Then builds each chain's Merkle tree in PostgreSQL and checks it
against the source's root and every checkpoint. Nodes on the new store need
the master key of the old one (JWTLEDGER_MASTER_KEY, or the contents of its
data directory's master.key). A progress bar goes to stderr when it is a
terminal (--quiet turns it off).
`,
		notes: `Example:
  jwtledger store migrate --from sqlite:/var/lib/jwtledger/jwtledger.db --to postgres://jwtledger@db:5432/jwtledger
`,
		flags: storeMigrateFlags,
	}, {
		name:    "repack",
		summary: "Rewrite the records an earlier release stored as JSON in the packed form (embedded SQLite store).",
		doc: `Rewrites the bodies of the records an earlier release stored as their
canonical JSON encoding in the packed form this release writes (bodies
about half the size, the file about 60%; see docs/ledger-format.md). Each body is rewritten only if it
is the encoding its stored leaf hash is of and the packed body reads back
as exactly that encoding: leaf hashes, checkpoints and proofs do not
change, and a damaged record is left as it is for audit verify to report.
It works in transactions of 4,096 records and may run while the ledger
serves. The file keeps its size (SQLite reuses the freed pages for new
records) unless --vacuum, which then rebuilds the file: that needs about
the file's size free next to it, and no other process using the ledger
(it refuses while one has it open: a running node would take the smaller
file for a truncated one and stop appending).
Only for the embedded store: PostgreSQL keeps canonical bodies.
`,
		notes: `Example:
  jwtledger store repack --data-dir /var/lib/jwtledger
  jwtledger audit verify --data-dir /var/lib/jwtledger
`,
		flags: storeRepackFlags,
	}},
}

func storeRepackFlags(fs *flag.FlagSet) runFunc {
	dataDir := fs.String("data-dir", "", "the data directory `DIR` (default $XDG_DATA_HOME/jwtledger)")
	spec := fs.String("store", "", "the store `URL`: sqlite:PATH (default sqlite: in the data directory)")
	vacuum := fs.Bool("vacuum", false, "then rebuild the database file to give the freed space back (refused while another process has the ledger open)")
	output := fs.String("output", "text", "`text|json`")
	quiet := fs.Bool("quiet", false, "no progress bar")
	return func(ctx context.Context, c *cli, pos []string) error {
		return runStoreRepack(ctx, c, pos, *dataDir, *spec, *vacuum, *output, *quiet)
	}
}

func runStoreRepack(ctx context.Context, c *cli, pos []string, dataDir, spec string, vacuum bool, output string, quiet bool) error {
	if len(pos) > 0 {
		return usageErr("store repack: unexpected argument %q", pos[0])
	}
	if output != "text" && output != "json" {
		return usageErr("store repack: --output must be text or json")
	}
	if dataDir == "" && (spec == "" || spec == "sqlite:") {
		d, err := defaults.DataDir()
		if err != nil {
			return usageErr("store repack: %v", err)
		}
		dataDir = d
	}
	path := store.FilePath(spec, dataDir)
	switch scheme := store.Scheme(spec); {
	case scheme == "postgres" || scheme == "postgresql":
		return withHint(usageErr("store repack: a PostgreSQL store has nothing to repack"), "PostgreSQL keeps canonical bodies; repack is for the embedded store (sqlite:PATH)")
	case path == "":
		return withHint(usageErr("store repack: --store %q is not the embedded store", spec), "name it --store sqlite:PATH, or give --data-dir DIR")
	}
	if _, err := os.Stat(path); err != nil {
		return withHint(usageErr("store repack: no ledger at %s", path), "name it with --data-dir DIR or --store sqlite:PATH")
	}
	if err := sqlite.CheckLedger(ctx, path); err != nil {
		return usageErr("store repack: %v", err)
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return usageErr("store repack: %v", err)
	}
	defer db.Close()
	bar := c.progress("repacking records", quiet)
	rep, err := db.Repack(ctx, vacuum, bar.callback())
	bar.finish()
	if err != nil {
		return usageErr("store repack: %v", err)
	}
	if output == "json" {
		return writeJSON(c.stdout, rep)
	}
	fmt.Fprintf(c.stdout, "%d records: %d repacked (%d -> %d bytes of bodies), %d packed already, %d pruned\n",
		rep.Records, rep.Repacked, rep.BytesBefore, rep.BytesAfter, rep.Packed, rep.Pruned)
	if rep.KeptCanonical > 0 {
		fmt.Fprintf(c.stdout, "%d records kept as JSON (the packed form cannot hold them exactly)\n", rep.KeptCanonical)
	}
	if rep.Damaged > 0 {
		fmt.Fprintf(c.stdout, "warning: %d records left as they are: their body is not the encoding of their leaf hash; run jwtledger audit verify\n", rep.Damaged)
	}
	if rep.Vacuumed {
		fmt.Fprintf(c.stdout, "database file %d -> %d bytes\n", rep.FileBefore, rep.FileAfter)
	} else if rep.Repacked > 0 {
		fmt.Fprintf(c.stdout, "the file keeps its size (%d bytes); new records reuse the freed pages (--vacuum gives them back)\n", rep.FileAfter)
	}
	if rep.Repacked == 0 {
		fmt.Fprintf(c.stdout, "ok: nothing to repack (%s)\n", rep.Elapsed.Round(1e6))
		return nil
	}
	fmt.Fprintf(c.stdout, "ok: repacked in %s\n", rep.Elapsed.Round(1e6))
	return nil
}

func storeMigrateFlags(fs *flag.FlagSet) runFunc {
	from := fs.String("from", "", "the source store `sqlite:PATH`")
	to := fs.String("to", "", "the empty target store `postgres://...`")
	output := fs.String("output", "text", "`text|json`")
	quiet := fs.Bool("quiet", false, "no progress bar")
	return func(ctx context.Context, c *cli, pos []string) error {
		return runStoreMigrate(ctx, c, pos, *from, *to, *output, *quiet)
	}
}

func runStoreMigrate(ctx context.Context, c *cli, pos []string, from, to, output string, quiet bool) error {
	if len(pos) > 0 {
		return usageErr("store migrate: unexpected argument %q", pos[0])
	}
	if from == "" || to == "" {
		return withHint(usageErr("store migrate: --from and --to are required"), "jwtledger store migrate --from sqlite:PATH --to postgres://...")
	}
	if output != "text" && output != "json" {
		return usageErr("store migrate: --output must be text or json")
	}
	bar := c.progress("copying records", quiet)
	defer bar.finish()
	rep, err := store.MigrateSpecs(ctx, from, to, bar.callback())
	if err != nil {
		return usageErr("store migrate: %v", err)
	}
	if output == "json" {
		return writeJSON(c.stdout, rep)
	}
	fmt.Fprintf(c.stdout, "copied %d settings, %d keys, %d clients, %d revocations\n", rep.Settings, rep.Keys, rep.Clients, rep.Revocations)
	for _, ch := range rep.Chains {
		fmt.Fprintf(c.stdout, "chain %s: %d records, %d checkpoints, root %s (matches the source)\n", ch.Chain, ch.Records, ch.Checkpoints, ch.Root)
	}
	fmt.Fprintf(c.stdout, "ok: %d records migrated and verified in %s\n", rep.Records, rep.Elapsed.Round(1e6))
	return nil
}
