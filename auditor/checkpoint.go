package auditor

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointSize bounds the text of a checkpoint (and of any note this
// package parses), in bytes.
const MaxCheckpointSize = 1 << 16

// A Checkpoint is the body of a C2SP tlog-checkpoint: a log's Merkle tree
// head at one size.
type Checkpoint struct {
	Origin string    // the log's identity, the first line
	Size   int64     // the number of leaves
	Root   tlog.Hash // the RFC 6962 root hash at Size

	// Extension is empty or the extension lines after the root hash, each
	// ending in a newline. Cosigners make no statement about them.
	Extension string
}

// String returns the checkpoint text: origin, size and base64 root hash,
// each on a line, then the extension lines.
func (c Checkpoint) String() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n" + c.Extension
}

// ParseCheckpoint parses a checkpoint text (a note's text, without the
// signatures). It accepts exactly what [Checkpoint.String] produces: a
// non-empty origin, a decimal size without leading zeros, a canonical
// base64 hash and non-empty extension lines, every line ending in a newline.
func ParseCheckpoint(text string) (Checkpoint, error) {
	if len(text) > MaxCheckpointSize {
		return Checkpoint{}, malformed("checkpoint larger than %d bytes", MaxCheckpointSize)
	}
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, malformed("checkpoint does not end in a newline")
	}
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, malformed("checkpoint has fewer than three lines")
	}
	var c Checkpoint
	if c.Origin = lines[0]; c.Origin == "" {
		return Checkpoint{}, malformed("checkpoint origin is empty")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, malformed("checkpoint tree size %q is not a decimal without leading zeros", lines[1])
	}
	c.Size = n
	if c.Root, err = parseHash(lines[2]); err != nil {
		return Checkpoint{}, malformed("checkpoint root hash: %v", err)
	}
	for rest := lines[3]; rest != ""; {
		line, after, _ := strings.Cut(rest, "\n")
		if line == "" {
			return Checkpoint{}, malformed("checkpoint has an empty extension line")
		}
		rest = after
	}
	c.Extension = lines[3]
	return c, nil
}

// parseHash decodes a base64 hash, refusing non-canonical encodings so
// that one hash has exactly one text form.
// decodeCanonical decodes standard base64 that is exactly what encoding
// the result gives: the decoder's Strict mode still skips CR and LF.
func decodeCanonical(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := decodeCanonical(s)
	if err != nil || len(b) != tlog.HashSize {
		return h, fmt.Errorf("want %d bytes in canonical base64", tlog.HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// ParseHash decodes one hash in canonical standard base64, as checkpoints
// and tlog-witness requests carry it.
func ParseHash(s string) (tlog.Hash, error) {
	h, err := parseHash(s)
	if err != nil {
		return h, malformed("hash %q: %v", s, err)
	}
	return h, nil
}
