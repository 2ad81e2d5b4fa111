package sqlite

import "time"

// RepackReport says what [DB.Repack] did.
type RepackReport struct {
	Records  int64 `json:"records"`        // records read
	Repacked int64 `json:"repacked"`       // canonical bodies rewritten packed
	Packed   int64 `json:"already_packed"` // bodies that were packed already
	// Canonical bodies the packed form cannot hold exactly, kept as they are.
	KeptCanonical int64 `json:"kept_canonical"`
	// Bodies that are not a canonical encoding, or not the one their leaf
	// hash is of: left as they are, for audit verify to report.
	Damaged int64 `json:"damaged"`
	Pruned  int64 `json:"pruned"`
	// BytesBefore and BytesAfter are the sizes of the repacked bodies.
	BytesBefore int64 `json:"bytes_before"`
	BytesAfter  int64 `json:"bytes_after"`
	// FileBefore and FileAfter are the database file's sizes; they differ
	// only with vacuum (otherwise SQLite reuses the freed pages).
	FileBefore int64         `json:"file_before"`
	FileAfter  int64         `json:"file_after"`
	Vacuumed   bool          `json:"vacuumed"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}
