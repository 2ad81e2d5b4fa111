package main

import (
	"context"
	"flag"
	"fmt"

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
// else nil (the registered opener).
func serveStore(spec string, rawSync bool) store.Opener {
	if store.Scheme(spec) != "sqlite" || !rawSync {
		return nil
	}
	return sqlite.Opener(sqlite.Options{RawSync: true})
}

var storeCmd = &command{
	name:    "store",
	summary: "move a ledger between stores (migrate)",
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
	}},
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
