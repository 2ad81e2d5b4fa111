package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/store"
)

var _ store.Prober = (*DB)(nil)

// CheckLive pings the server (a round trip, no write).
func (db *DB) CheckLive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Probe makes one durable write (this chain's row "probe/CHAIN" in meta)
// and reads the ledger id and chain's head in the same transaction.
func (db *DB) Probe(ctx context.Context, chain string) (ledgerID string, head int64, err error) {
	now := []byte(strconv.FormatInt(time.Now().UnixNano(), 10))
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value", "probe/"+chain, now); err != nil {
			return err
		}
		var id []byte
		if err := tx.QueryRow(ctx, "SELECT value FROM meta WHERE name = 'ledger_id'").Scan(&id); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		ledgerID = string(id)
		return tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE chain = $1", chain).Scan(&head)
	})
	if err != nil {
		return "", 0, fmt.Errorf("postgres: probe: %w", err)
	}
	return ledgerID, head, nil
}
