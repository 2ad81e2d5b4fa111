// Package witness implements both sides of the C2SP tlog-witness protocol:
// a [Client] that asks a witness to cosign a log's checkpoint, and a
// [Witness] server that checks each checkpoint it is sent against the last
// one it cosigned for that log and cosigns it (C2SP tlog-cosignature,
// cosignature/v1).
package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// MaxProofHashes is the most consistency proof lines a request may carry
// (the spec: a client MUST NOT send more than 63).
const MaxProofHashes = 63

// MaxRequestSize bounds an add-checkpoint request body, in bytes: the old
// size, 63 proof lines and a checkpoint with its signatures.
const MaxRequestSize = 128 << 10

// ErrMalformedRequest is wrapped by the errors of [ParseRequest].
var ErrMalformedRequest = errors.New("malformed add-checkpoint request")

// A Request is the body of an add-checkpoint call.
type Request struct {
	OldSize    int64          // the size of the checkpoint the client believes the witness has cosigned last
	Proof      tlog.TreeProof // the consistency proof from OldSize to the checkpoint's size
	Checkpoint []byte         // the signed checkpoint note
}

// Marshal returns the request body: "old N", one base64 hash a line, an
// empty line, then the signed checkpoint.
func (r *Request) Marshal() []byte {
	b := make([]byte, 0, 24+len(r.Proof)*45+len(r.Checkpoint))
	b = append(b, "old "...)
	b = strconv.AppendInt(b, r.OldSize, 10)
	b = append(b, '\n')
	for _, h := range r.Proof {
		b = base64.StdEncoding.AppendEncode(b, h[:])
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, r.Checkpoint...)
}

// ParseRequest parses an add-checkpoint request body exactly as the spec
// writes it: an old size line in decimal without leading zeros, at most 63
// consistency proof lines of one canonical base64 hash each, none when the
// old size is zero, an empty line, and the checkpoint note (not parsed
// here). Every line ends in a newline.
func ParseRequest(body []byte) (*Request, error) {
	if len(body) > MaxRequestSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedRequest, MaxRequestSize)
	}
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%w: no empty line before the checkpoint", ErrMalformedRequest)
	}
	lines := bytes.Split(head, []byte("\n"))
	size, ok := bytes.CutPrefix(lines[0], []byte("old "))
	if !ok {
		return nil, fmt.Errorf("%w: the first line is not \"old SIZE\"", ErrMalformedRequest)
	}
	old, err := strconv.ParseInt(string(size), 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != string(size) {
		return nil, fmt.Errorf("%w: the old size is not a decimal without leading zeros", ErrMalformedRequest)
	}
	r := &Request{OldSize: old, Checkpoint: cp}
	if len(lines)-1 > MaxProofHashes {
		return nil, fmt.Errorf("%w: more than %d consistency proof lines", ErrMalformedRequest, MaxProofHashes)
	}
	if old == 0 && len(lines) > 1 {
		return nil, fmt.Errorf("%w: a consistency proof from size 0 must be empty", ErrMalformedRequest)
	}
	for i, l := range lines[1:] {
		h, err := auditor.ParseHash(string(l))
		if err != nil {
			return nil, fmt.Errorf("%w: consistency proof line %d is not a base64 hash", ErrMalformedRequest, i+1)
		}
		r.Proof = append(r.Proof, h)
	}
	return r, nil
}
