//go:build cgo

package sqlite

// SetAutoCheckpoint sets the WAL checkpoint mark of stores opened after.
func SetAutoCheckpoint(pages int) { autoCheckpointPages = pages }

// SetIndexer makes stores opened after start their index follower (on) or
// not; it returns the previous setting.
func SetIndexer(on bool) bool { was := startIndexer; startIndexer = on; return was }

// Dialect is the store's SQL dialect.
var Dialect = dialect

// CountScans makes db count how ScanChainRange reads its ranges, and
// returns the counts so far: ranges read in rowid order, and ranges read
// (partly) through the (chain, seq) index.
func CountScans(db *DB) (byID, bySeq int64) {
	if db.scanStats == nil {
		db.scanStats = &scanStats{}
	}
	return db.scanStats.byID.Load(), db.scanStats.bySeq.Load()
}

// ScanBySeqOnly makes db's ScanChainRange read every range through the
// (chain, seq) index.
func ScanBySeqOnly(db *DB) { db.scanBySeqOnly = true }

// Scan statements, for their query plans.
const (
	RowsByID  = rowsByID
	RowsBySeq = rowsBySeq
)
