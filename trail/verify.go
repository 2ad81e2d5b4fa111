package trail

import (
	"context"
	"io"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/auditlog"
)

// PruneResult says what [Log.Prune] removed from one chain: the bodies of
// Pruned records, up to the checkpoint of size UpTo.
type PruneResult = auditlog.PruneResult

// Verify recomputes every chain's leaves and Merkle tree from the stored
// records, checks every stored checkpoint's signature and root (which also
// proves consecutive checkpoints consistent), and checks that the ledger
// extends every external checkpoint. It reports damage; the error is for
// failures to read. [auditor.VerifyExport] makes the same checks of an
// export, offline.
func (l *Log) Verify(ctx context.Context, opt auditor.VerifyOptions) (*auditor.LogReport, error) {
	return l.t().Verify(ctx, opt)
}

// Export streams the whole ledger (every chain, its checkpoints, every
// record's leaf hash, and the records with time in [since, until) in full)
// to w, in constant memory. Zero times mean no bound. [auditor.VerifyExport]
// verifies it offline.
func (l *Log) Export(ctx context.Context, w io.Writer, format auditor.ExportFormat, since, until time.Time) error {
	return l.t().Export(ctx, w, format, since, until, nil)
}

// Prune removes the bodies of records older than retain, in every chain,
// but only up to the newest checkpoint made at or before the cut, so every
// pruned record stays covered by a signed checkpoint. Leaf and tree hashes
// are kept: Verify still checks the whole tree and reports the range as
// pruned. It works in small transactions.
func (l *Log) Prune(ctx context.Context, retain time.Duration) ([]PruneResult, error) {
	return l.t().Prune(ctx, retain)
}
