package auditor

import (
	"io"
)

// VerifyExportOneCore is VerifyExport as it was before the lines of a
// JSONL export were decoded on several cores: one json.Decoder reads the
// export value by value. The tests check that both report the same.
func VerifyExportOneCore(r io.Reader, verifierKey string, opt VerifyOptions) (*LogReport, error) {
	return verifyExport(r, verifierKey, opt, false)
}
