// Package trail reads and maintains a ledger's audit trail: the records of
// every issuance, verification, revocation, key and client change, and the
// signed checkpoints that make them tamper-evident. Get a ledger's trail
// with [github.com/jwtledger/jwtledger.Ledger.Trail]:
//
//	t := l.Trail()
//	recs, err := t.Query(ctx, trail.Filter{Event: "token.issue", Sub: "alice", Limit: 50, Newest: true})
//
// # The trail
//
// Each node of a ledger writes its own chain (named by its node id): its
// records are numbered from 1 without gaps, and each is stored in its
// canonical encoding with its RFC 6962 leaf hash, the leaves of the chain's
// Merkle tree. No caller gets a token or a verdict before its record is
// durable. A [Record] never holds a token, secret or private key. The
// format is in docs/ledger-format.md.
//
// # Querying
//
// [Log.Query] returns the records a [Filter] selects, oldest first, and
// pages with its After/Before cursors (a record's ID) and Limit; an event
// or outcome that no record can have is refused as an invalid request
// rather than answered with nothing. [Log.Record] reads one record by
// chain and sequence number. [Log.Stats] counts what the writer did.
//
// # Checkpoints and proofs
//
// A checkpoint is a note, signed with the ledger's audit key, of a chain's
// tree size and root ([Checkpoint]). The ledger makes them by itself
// (Config.CheckpointEvery, CheckpointInterval) and [Log.Checkpoint] makes
// one now; [Log.Checkpoints] lists the stored ones. [Log.Prove] builds the
// inclusion proof of one record against a checkpoint that covers it, which
// anyone holding [Log.VerifierKey] checks with
// [github.com/jwtledger/jwtledger/auditor.VerifyProof].
//
// # Exports and verification
//
// [Log.Export] streams every chain's checkpoints and leaf hashes and the
// records of a time range in full (JSON lines or CSV), in constant memory.
// [Log.Verify] recomputes every chain's tree from the store and checks
// every checkpoint; an auditor who does not trust the operator checks an
// export offline with [github.com/jwtledger/jwtledger/auditor.VerifyExport],
// and needs only that package and the verifier key.
//
// # Retention
//
// [Log.Prune] (or Config.Retain, hourly) removes the bodies of old records,
// never beyond the newest checkpoint made before the cut: leaf hashes stay,
// so the trees still verify and the pruned range is reported as pruned.
//
// # Witnessing
//
// With Config.Witnesses, every checkpoint is sent to independent witnesses
// (C2SP tlog-witness) whose cosignatures are stored with it; they show
// that the ledger did not show two histories. [Log.Witnessing] reports
// what each witness has cosigned, and [Log.Cosigned] returns the
// checkpoints with their cosignature lines, what an
// [github.com/jwtledger/jwtledger/auditor.Policy] verifies.
package trail
