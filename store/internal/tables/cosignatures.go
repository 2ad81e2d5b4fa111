package tables

import (
	"context"
	"time"

	"github.com/jwtledger/jwtledger/store"
)

// AddCosignature stores c and raises the witness's known size of c.Chain
// to c.Size; q should be a transaction.
func (d *Dialect) AddCosignature(ctx context.Context, q Querier, c store.Cosignature) error {
	if _, err := q.Exec(ctx, d.SQL("INSERT INTO checkpoint_cosignatures (chain, size, witness, line, time) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
		c.Chain, c.Size, c.Witness, c.Line, c.Time.UnixNano()); err != nil {
		return d.errorf("store cosignature: %w", err)
	}
	return d.SetWitnessSize(ctx, q, c.Chain, c.Witness, c.Size)
}

// SetWitnessSize records size as the size of chain the witness has.
func (d *Dialect) SetWitnessSize(ctx context.Context, q Querier, chain, witness string, size int64) error {
	if _, err := q.Exec(ctx, d.SQL("INSERT INTO witness_state (chain, witness, size) VALUES (?, ?, ?) ON CONFLICT (chain, witness) DO UPDATE SET size = excluded.size"),
		chain, witness, size); err != nil {
		return d.errorf("store witness state: %w", err)
	}
	return nil
}

// Cosignatures returns chain's cosignatures by size, then witness.
func (d *Dialect) Cosignatures(ctx context.Context, q Querier, chain string) ([]store.Cosignature, error) {
	var out []store.Cosignature
	err := d.query(ctx, q, "SELECT size, witness, line, time FROM checkpoint_cosignatures WHERE chain = ? ORDER BY size, witness", []any{chain}, func(r Rows) error {
		c := store.Cosignature{Chain: chain}
		var t int64
		if err := r.Scan(&c.Size, &c.Witness, &c.Line, &t); err != nil {
			return err
		}
		c.Time = time.Unix(0, t).UTC()
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, d.errorf("list cosignatures: %w", err)
	}
	return out, nil
}

// WitnessSize is the size of chain the witness is known to have (0 when
// none is recorded).
func (d *Dialect) WitnessSize(ctx context.Context, q Querier, chain, witness string) (int64, error) {
	var n int64
	if _, err := d.one(ctx, q, "SELECT size FROM witness_state WHERE chain = ? AND witness = ?", []any{chain, witness}, &n); err != nil {
		return 0, d.errorf("read witness state: %w", err)
	}
	return n, nil
}

// Cosignatures returns chain's cosignatures by size, then witness.
func (r Reads) Cosignatures(ctx context.Context, chain string) ([]store.Cosignature, error) {
	return r.D.Cosignatures(ctx, r.Q, chain)
}

// WitnessSize is the size of chain the witness is known to have.
func (r Reads) WitnessSize(ctx context.Context, chain, witness string) (int64, error) {
	return r.D.WitnessSize(ctx, r.Q, chain, witness)
}
