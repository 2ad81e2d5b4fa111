//go:build cgo

package sqlite

// SetAutoCheckpoint sets the WAL checkpoint mark of stores opened after.
func SetAutoCheckpoint(pages int) { autoCheckpointPages = pages }

// SetIndexer makes stores opened after start their index follower (on) or
// not; it returns the previous setting.
func SetIndexer(on bool) bool { was := startIndexer; startIndexer = on; return was }

// Dialect is the store's SQL dialect.
var Dialect = dialect

// SetIndexRunChunk sets how many runs of the audit index one query
// searches; it returns the previous setting.
func SetIndexRunChunk(n int) int { was := dialect.IndexRunChunk; dialect.IndexRunChunk = n; return was }
