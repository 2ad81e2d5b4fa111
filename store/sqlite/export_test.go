//go:build cgo

package sqlite

// SetAutoCheckpoint sets the WAL checkpoint mark of stores opened after.
func SetAutoCheckpoint(pages int) { autoCheckpointPages = pages }
