//go:build cgo

package sqlite

// SetAutoCheckpoint sets the WAL checkpoint mark of stores opened after.
func SetAutoCheckpoint(pages int) { autoCheckpointPages = pages }

// SetIndexer makes stores opened after start their index follower (on) or
// not; it returns the previous setting.
func SetIndexer(on bool) bool { was := startIndexer; startIndexer = on; return was }

// Dialect is the store's SQL dialect.
var Dialect = dialect
