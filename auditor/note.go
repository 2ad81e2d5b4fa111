package auditor

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// ErrMalformed is wrapped by every error about input that does not follow
// its format: a note, a checkpoint, a key, a policy, a signature line.
var ErrMalformed = errors.New("malformed input")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

// MaxSignatures is the largest number of signature lines accepted in a note
// or a witness's answer (C2SP signed-note asks verifiers to accept at least
// 16; golang.org/x/mod/sumdb/note stops at 100).
const MaxSignatures = 100

const sigPrefix = "— " // U+2014 and a space

// SplitNote splits a C2SP signed note into its text (ending in a newline)
// and its signature lines, without verifying any signature. It follows the
// signed-note format as golang.org/x/mod/sumdb/note.Open does: valid UTF-8,
// no control characters but newlines, the text separated from the
// signatures by the last blank line, at least one and at most
// [MaxSignatures] signature lines, duplicate lines dropped.
func SplitNote(msg []byte) (text string, sigs []note.Signature, err error) {
	if len(msg) > MaxCheckpointSize+MaxSignatures*1024 {
		return "", nil, malformed("note larger than %d bytes", MaxCheckpointSize+MaxSignatures*1024)
	}
	for i := 0; i < len(msg); {
		r, size := utf8.DecodeRune(msg[i:])
		if r < 0x20 && r != '\n' || r == utf8.RuneError && size == 1 {
			return "", nil, malformed("note is not UTF-8 text without control characters")
		}
		i += size
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return "", nil, malformed("note has no blank line before its signatures")
	}
	sigs, err = ParseSignatureLines(msg[split+2:])
	if err != nil {
		return "", nil, err
	}
	return string(msg[:split+1]), sigs, nil
}

// ParseSignatureLines parses one or more note signature lines ("— name
// base64(key hash || signature)", each ending in a newline), as a
// tlog-witness answers them. Repeated identical lines are dropped.
func ParseSignatureLines(lines []byte) ([]note.Signature, error) {
	if len(lines) == 0 || lines[len(lines)-1] != '\n' {
		return nil, malformed("signature lines must end in a newline")
	}
	var sigs []note.Signature
	seen := map[string]bool{}
	for n, rest := 0, lines; len(rest) > 0; n++ {
		i := bytes.IndexByte(rest, '\n')
		line := string(rest[:i])
		rest = rest[i+1:]
		sig, err := parseSignatureLine(line)
		if err != nil {
			return nil, err
		}
		if n == MaxSignatures {
			return nil, malformed("more than %d signature lines", MaxSignatures)
		}
		if !seen[line] {
			seen[line] = true
			sigs = append(sigs, sig)
		}
	}
	return sigs, nil
}

func parseSignatureLine(line string) (note.Signature, error) {
	rest, ok := strings.CutPrefix(line, sigPrefix)
	if !ok {
		return note.Signature{}, malformed("signature line does not start with %q", sigPrefix)
	}
	name, b64, _ := strings.Cut(rest, " ")
	if !validName(name) {
		return note.Signature{}, malformed("signature line has an invalid key name")
	}
	raw, err := base64.StdEncoding.DecodeString(b64) // as note.Open decodes it
	if err != nil || len(raw) < 5 {
		return note.Signature{}, malformed("signature of %q is not base64 of a key hash and a signature", name)
	}
	return note.Signature{Name: name, Hash: binary.BigEndian.Uint32(raw), Base64: b64}, nil
}

// FormatSignature returns sig as a note signature line, ending in a newline.
func FormatSignature(sig note.Signature) string {
	return sigPrefix + sig.Name + " " + sig.Base64 + "\n"
}

// validName reports whether name can name a note key: non-empty UTF-8
// without Unicode spaces or '+'.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
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
