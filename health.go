package jwtledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/jwtledger/jwtledger/internal/datadir"
	"github.com/jwtledger/jwtledger/internal/health"
)

// lose puts the ledger out of service after its store's identity was lost
// (see [health.Monitor.Lose]).
func (l *Ledger) lose(cause error) { l.mon.Lose(cause) }

// newMonitor returns the health monitor of l's store.
func (l *Ledger) newMonitor() *health.Monitor {
	return &health.Monitor{Prober: l.caps.Prober, Rescuer: l.caps.Rescuer, Ping: l.db.Ping, Writer: l.w,
		CheckpointFailure: l.cpFailure,
		Checkpoint:        func(ctx context.Context) { l.Checkpoint(ctx, Meta{Actor: "jwtledger"}) },
		NodeID:            l.cfg.NodeID, DBPath: l.dbPath, Log: l.log, ErrAudit: ErrAudit}
}

// Ready reports whether the ledger can serve: its store is the one it
// opened (same file, same ledger id, not gone back in time), a small write
// to it is durable, its file system has room (Config.MinFreeSpace), the
// newest audit commit and the newest checkpoint attempt succeeded. The
// store is probed at most once per second; callers in between get
// the cached result (plus any failure since), so a load balancer polling
// readiness costs one small write a second. A store that comes back is
// ready again within a second of the next call, with no other traffic.
func (l *Ledger) Ready(ctx context.Context) error {
	if err := l.mon.Failed(); err != nil {
		return err
	}
	if l.readOnly != nil {
		return l.readOnly
	}
	return l.mon.Ready(ctx)
}

const ledgerIDName = "ledger_id"

// loadLedgerID reads, or makes on first use, the store's ledger id.
func (l *Ledger) loadLedgerID(ctx context.Context) error {
	if l.readOnly != nil {
		id, _, err := l.db.Meta(ctx, ledgerIDName)
		l.mon.LedgerID = string(id)
		return err
	}
	var b [16]byte
	rand.Read(b[:])
	id, err := l.db.SetMetaOnce(ctx, ledgerIDName, []byte(hex.EncodeToString(b[:])))
	if err != nil {
		return fmt.Errorf("store ledger id: %w", err)
	}
	l.mon.LedgerID = string(id)
	return nil
}

// ErrMissingDatabase means the data directory belongs to a ledger whose
// database file is gone: Open refuses to create a new, empty one there.
var ErrMissingDatabase = datadir.ErrMissingDatabase
