//go:build cgo

package sqlite

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

// Member is the SQL expression of a body member (member).
var Member = member
