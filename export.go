package jwtledger

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/auditlog"
)

// VerifyAudit recomputes every chain's leaves and Merkle tree from the
// stored records, checks every stored checkpoint's signature and root (which
// also proves consecutive checkpoints consistent), and checks that the
// ledger extends every external checkpoint. It reports damage; the error is
// for failures to read. [auditor.VerifyExport] makes the same checks of an
// export, offline.
func (l *Ledger) VerifyAudit(ctx context.Context, opt auditor.VerifyOptions) (*auditor.LogReport, error) {
	rep, err := auditlog.Verify(ctx, auditlog.WithCosignatures(l.db, l.caps.Cosignatures), l.caps.Damage, l.auditVKey, opt)
	if err != nil {
		return nil, err
	}
	auditlog.MarkUncovered(rep, l.cfg.NodeID, l.cpFailure())
	return rep, nil
}

// Export streams the whole ledger (every chain, its checkpoints, every
// record's leaf hash, and the records with time in [since, until) in full)
// to w, in constant memory. Zero times mean no bound. [auditor.VerifyExport]
// verifies it offline.
func (l *Ledger) Export(ctx context.Context, w io.Writer, format auditor.ExportFormat, since, until time.Time) error {
	return l.export(ctx, w, format, since, until, nil)
}

func (l *Ledger) export(ctx context.Context, w io.Writer, format auditor.ExportFormat, since, until time.Time, match func(body []byte) bool) error {
	err := auditlog.Export(ctx, auditlog.WithCosignatures(l.db, l.caps.Cosignatures), w, format, l.auditVKey, since, until, match)
	if errors.Is(err, auditor.ErrExportFormat) {
		return invalidf("unknown export format %q (want jsonl or csv)", format)
	}
	return err
}
