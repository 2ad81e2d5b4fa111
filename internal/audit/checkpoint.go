package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Origin is the checkpoint origin line of a chain: it names the ledger
// software and the chain (node).
func Origin(chain string) string { return "jwtledger/" + chain }

// CheckpointText is the body of a checkpoint in the C2SP tlog-checkpoint
// form: origin, tree size, base64 root hash, one per line.
func CheckpointText(origin string, size int64, root tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// ParseCheckpoint reads the body of a checkpoint made by [CheckpointText]
// (extension lines after the root are allowed and ignored).
func ParseCheckpoint(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, root, errors.New("checkpoint: want origin, size and root lines")
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, root, errors.New("checkpoint: empty origin")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, root, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	copy(root[:], h)
	return origin, size, root, nil
}

// SplitNotes splits concatenated signed notes (as in checkpoints.log, notes
// separated by blank lines) into single notes. A note is its text lines, one
// blank line, and signature lines starting with "— "; text without
// signatures is skipped.
func SplitNotes(data []byte) [][]byte {
	var notes [][]byte
	lines := bytes.SplitAfter(data, []byte("\n"))
	var cur []byte
	inSigs, sigs := false, 0
	flush := func() {
		if sigs > 0 {
			notes = append(notes, cur)
		}
		cur, inSigs, sigs = nil, false, 0
	}
	for _, l := range lines {
		isSig := bytes.HasPrefix(l, []byte("— "))
		blank := len(bytes.TrimSpace(l)) == 0
		switch {
		case inSigs && !isSig:
			flush()
			if blank {
				continue
			}
		case !inSigs && blank && len(cur) == 0:
			continue
		case !inSigs && blank:
			inSigs = true
		}
		if inSigs && isSig {
			sigs++
		}
		cur = append(cur, l...)
	}
	flush()
	return notes
}
