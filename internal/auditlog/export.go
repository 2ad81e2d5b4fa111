package auditlog

import (
	"context"
	"io"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
)

// Export streams the whole store (every chain, its checkpoints, every
// record's leaf hash, and in full the records with time in [since, until)
// that match selects, every record when match is nil) to w in constant
// memory, in the export format of [auditor.NewExportWriter]. Zero times
// mean no bound.
func Export(ctx context.Context, db Reader, w io.Writer, format auditor.ExportFormat, verifierKey string, since, until time.Time, match func(body []byte) bool) error {
	ew, err := auditor.NewExportWriter(w, format, verifierKey)
	if err != nil {
		return err
	}
	chains, err := db.Chains(ctx)
	if err != nil {
		return err
	}
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !since.IsZero() {
		lo = since.UnixNano()
	}
	if !until.IsZero() {
		hi = until.UnixNano()
	}
	for _, chain := range chains {
		cps, err := db.Checkpoints(ctx, chain)
		if err != nil {
			return err
		}
		for _, cp := range cps {
			if err := ew.Checkpoint(chain, cp.Size, cp.Root, cp.Note); err != nil {
				return err
			}
		}
		err = db.ScanChainTimes(ctx, chain, func(seq, t int64, body, leaf []byte) error {
			if body != nil && (t < lo || t >= hi || match != nil && !match(body)) {
				body = nil
			}
			return ew.Record(chain, seq, leaf, body)
		})
		if err != nil {
			return err
		}
	}
	return ew.Flush()
}
