// Package auditor checks what a jwtledger ledger hands to someone who does
// not trust its operator: its records in their canonical encoding
// ([Encode], [Decode], [LeafHash]), signed checkpoints and the witnesses'
// cosignatures on them, inclusion proofs ([VerifyProof]) and exports
// ([VerifyExport], or [LogVerifier] for rows read from elsewhere). The
// ledger itself seals records ([Seal]), writes exports ([NewExportWriter])
// and verifies its store with this package, so there is one implementation
// of each format. It imports only the standard library and golang.org/x/mod, so an
// auditor can build it alone, and it follows the public C2SP specifications
// (signed-note, tlog-checkpoint, tlog-cosignature, tlog-witness), so the
// same checks can be made with any other implementation of them.
//
// # Records, proofs and exports
//
// A record's canonical encoding is what the ledger stores and hashes: its
// leaf hash is SHA-256(0x00 || encoding), an RFC 6962 leaf. [Decode]
// accepts only what [Encode] makes, so a record has one encoding. Given
// the ledger's note verifier key (jwtledger audit key):
//
//	rec, err := auditor.VerifyProof(&proof, vkey) // proof: jwtledger audit prove
//	rep, err := auditor.VerifyExport(f, vkey, auditor.VerifyOptions{Checkpoints: auditor.SplitNotes(saved)})
//	if err == nil && !rep.OK { /* rep.Damage says what and where */ }
//
// VerifyExport checks, in constant memory, every record against its leaf
// hash and every chain's tree against its signed checkpoints and the
// external ones you kept (copies of checkpoints.log).
//
// # What a checkpoint proves, and what a witness adds
//
// A checkpoint is a signed note whose text is a log's origin, tree size and
// Merkle root hash ([Checkpoint], [ParseCheckpoint]). The log's signature
// says: "these were the first Size records of my log". Inclusion and
// consistency proofs checked against it show that a record is in the log
// and that a later checkpoint extends an earlier one. But whoever holds the
// log's key can sign a second, different history and show it to someone
// else (a split view), and nothing in one checkpoint reveals that.
//
// A witness is an independent service that is sent each new checkpoint of
// a log with a consistency proof from the last one it saw, checks the
// proof, remembers the new size and root, and only then cosigns
// (tlog-witness). Its cosignature (tlog-cosignature, cosignature/v1:
// Ed25519 over the checkpoint and a timestamp) says: "at this time, this is
// the largest tree of this log I have seen, and it extends every tree I saw
// before". A witness never cosigns two checkpoints of one log that are not
// consistent, so once a checkpoint carries the cosignatures of enough
// witnesses you trust, every other checkpoint those witnesses cosigned is
// of the same history.
//
// # What an auditor keeps
//
// A [Policy]: the keys of the witnesses you trust, how many of them must
// have cosigned (the quorum), and optionally the log's own key. Write it in
// the text format of [ParsePolicy] (the Sigsum and torchwood policy format
// with vkeys):
//
//	log jwtledger-audit-1a2b3c4d+0e6f1a2b+AZ3f...         # the ledger's audit key
//	witness alpha witness.example/alpha+9c1d2e3f+BPq2...  # a witness's cosignature key
//	witness beta beta.example/w+7a8b9c0d+BK1x...
//	quorum 2                                              # both must have cosigned
//
// Keep the policy, and the checkpoints you were given with their
// cosignatures: a checkpoint you hold that is witnessed under your policy
// pins the history up to its size, even if the operator later rewrites it.
//
// # Checking a checkpoint
//
// [Policy.Verify] takes a signed checkpoint note with the witnesses'
// signature lines appended (as a tlog-witness client assembles it) and
// returns a [Report]: which witnesses cosigned it validly and when, which
// did not, which cosignature lines do not verify, and whether the quorum is
// met. A checkpoint that is not witnessed comes back with an
// [*UnwitnessedError] holding the same report:
//
//	p, err := auditor.ParsePolicy(policyText)
//	...
//	rep, err := p.Verify(signedCheckpoint)
//	var uw *auditor.UnwitnessedError
//	switch {
//	case err == nil:
//		fmt.Println("witnessed by", rep.Cosigned())
//	case errors.As(err, &uw):
//		fmt.Println("not witnessed; missing", uw.Report.Missing, "invalid", uw.Report.Invalid)
//	case errors.Is(err, auditor.ErrLogSignature):
//		// not signed by the log key of the policy
//	case errors.Is(err, auditor.ErrMalformed):
//		// not a signed checkpoint
//	}
//
// A checkpoint the log signed but that no quorum of witnesses saw is exactly
// what a rewritten history looks like: treat it as unproven.
//
// # Witness keys
//
// A witness is known by its verifier key, name+hash+base64(0x04 ||
// Ed25519 public key), where hash is the first four bytes of
// SHA-256(name || "\n" || 0x04 || public key). [NewCosignatureVerifier]
// parses one into a [CosignatureVerifier], which is a note.Verifier:
// golang.org/x/mod/sumdb/note.Open accepts it like any other key.
// [CosignatureTime] reads when a cosignature was made. On a command line a
// witness is given as NAME=VKEY or NAME=VKEY@URL ([ParseWitness]) and a
// policy is built with [NewPolicy].
package auditor
