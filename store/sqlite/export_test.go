//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"slices"

	"github.com/jwtledger/jwtledger/store/internal/tables"
)

// SetAutoCheckpoint sets the WAL checkpoint mark of stores opened after.
func SetAutoCheckpoint(pages int) { autoCheckpointPages = pages }

// SetIndexer makes stores opened after start their index follower (on) or
// not; it returns the previous setting.
func SetIndexer(on bool) bool { was := startIndexer; startIndexer = on; return was }

// Dialect is the store's SQL dialect.
var Dialect = dialect

// ScanByDriver makes db's ScanChainRange read the driver's rows, as it
// does when it cannot open a connection of its own.
func ScanByDriver(db *DB) { db.scanByDriver = true }

// ScansOnOwnConn reports whether db's ScanChainRange reads on a connection
// of its own.
func ScansOnOwnConn(db *DB) bool {
	c := db.scanConn()
	if c == nil {
		return false
	}
	db.putScanConn(c)
	return true
}

// RowsBySeq is the scan's query, for its plan.
const RowsBySeq = rowsBySeq

// SetIndexRunChunk sets how many runs of the audit index one query
// searches; it returns the previous setting.
func SetIndexRunChunk(n int) int { was := dialect.IndexRunChunk; dialect.IndexRunChunk = n; return was }

// SetTimeSpanMost sets the most records of a time range whose ids bound a
// query (0: none); it returns the previous setting.
func SetTimeSpanMost(n int) int { was := dialect.TimeSpanMost; dialect.TimeSpanMost = n; return was }

// RewriteIndex rewrites the runs of the index file at path (every run it
// holds, and the runs of extra) with the pairs edit returns for each
// run's pairs (sorted by key, then id; nil for a run it lacks).
func RewriteIndex(path string, extra []int64, edit func(run int64, pairs []tables.IndexEntry) []tables.IndexEntry) error {
	ctx := context.Background()
	x, err := sql.Open("sqlite3", path+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		return err
	}
	defer x.Close()
	x.SetMaxOpenConns(1)
	tx, err := x.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT run FROM audit_run")
	if err != nil {
		return err
	}
	runs := slices.Clone(extra)
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return err
		}
		runs = append(runs, r)
	}
	rows.Close()
	slices.Sort(runs)
	for _, run := range slices.Compact(runs) {
		pairs, err := readRun(ctx, tx, run)
		if err != nil {
			return err
		}
		pairs = edit(run, pairs)
		slices.SortFunc(pairs, comparePairs)
		pairs = slices.Compact(pairs)
		if _, err := tx.ExecContext(ctx, "DELETE FROM audit_block WHERE bid >= ? AND bid < ?", run<<blockShift, (run+1)<<blockShift); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM audit_run WHERE run = ?", run); err != nil {
			return err
		}
		if len(pairs) == 0 {
			continue
		}
		blocks, fences := splitBlocks(run, pairs)
		for i, b := range blocks {
			if _, err := tx.ExecContext(ctx, insertIndexSQL, run<<blockShift|int64(i), b); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO audit_run (run, fences) VALUES (?, ?)", run, encodeFences(fences)); err != nil {
			return err
		}
	}
	return tx.Commit()
}
