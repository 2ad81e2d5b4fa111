package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// Client defaults.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultAttempts = 3
	DefaultBackoff  = 500 * time.Millisecond
	maxBackoff      = 10 * time.Second
	maxResponse     = 64 << 10
)

// Errors of [Client.AddCheckpoint] for the witness's refusals, checked
// with errors.Is on a [*ResponseError].
var (
	// ErrUnknownLog: 404, the witness does not witness the checkpoint's origin.
	ErrUnknownLog = errors.New("the witness does not know this log")
	// ErrLogSignature: 403, no signature of a key the witness trusts for
	// the log verifies (witnesses before the 404 rule also answer an
	// unknown log so).
	ErrLogSignature = errors.New("the witness does not accept the log's signature")
	// ErrInconsistent: 422, the consistency proof does not verify against
	// the tree the witness cosigned; or 409 at the size the witness has,
	// with another root hash. Either is what a split view looks like.
	ErrInconsistent = errors.New("the witness refused the checkpoint as inconsistent with the tree it cosigned")
	// ErrBadRequest: 400 or 413, the witness finds the request malformed.
	ErrBadRequest = errors.New("the witness finds the request malformed")
	// ErrCosignature: the answer has no valid cosignature of the
	// witness's key, or one that does not verify.
	ErrCosignature = errors.New("the witness's answer has no valid cosignature of its key")
)

// A ConflictError is the witness's 409 answer with the size of the latest
// checkpoint it cosigned for the log, which is not the old size sent. The
// caller retries with a consistency proof from KnownSize ([Client.Cosign]
// does), unless KnownSize is larger than its checkpoint: then the witness
// has seen a larger tree of this log than the log now shows.
type ConflictError struct {
	KnownSize int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("the witness has cosigned the log at size %d, not at the old size sent", e.KnownSize)
}

// A ResponseError is an answer of the witness other than 200 and the 409
// known-size answer.
type ResponseError struct {
	StatusCode int
	Message    string // the first line of the body, at most 200 bytes
}

func (e *ResponseError) Error() string {
	msg := fmt.Sprintf("witness answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is maps the status to the sentinels of the refusals.
func (e *ResponseError) Is(target error) bool {
	switch e.StatusCode {
	case http.StatusNotFound:
		return target == ErrUnknownLog
	case http.StatusForbidden:
		return target == ErrLogSignature
	case http.StatusUnprocessableEntity, http.StatusConflict:
		return target == ErrInconsistent
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return target == ErrBadRequest
	}
	return false
}

// A Client asks one witness for cosignatures with C2SP tlog-witness's
// add-checkpoint call. Its zero value is not usable: URL and Verifier are
// required.
type Client struct {
	// URL is the witness's submission prefix; "/add-checkpoint" is
	// appended.
	URL string
	// Verifier is the witness's key: only cosignatures it verifies are
	// accepted.
	Verifier *auditor.CosignatureVerifier
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds each attempt (DefaultTimeout when zero).
	Timeout time.Duration
	// Attempts is how many times a request is sent when the witness
	// cannot be reached, times out, or answers 429 or 5xx
	// (DefaultAttempts when zero).
	Attempts int
	// Backoff is the wait before the second attempt, doubling at each
	// further one up to 10s, with jitter (DefaultBackoff when zero).
	Backoff time.Duration
}

// AddCheckpoint sends the signed checkpoint with a consistency proof from
// oldSize (the size of the latest checkpoint the caller believes the
// witness cosigned; empty proof for 0) and returns the witness's
// cosignature lines, each verified with the witness's key. The witness's
// other lines are dropped. A 409 known-size answer is a [*ConflictError];
// other refusals are [*ResponseError]s matching ErrUnknownLog,
// ErrLogSignature, ErrInconsistent or ErrBadRequest.
func (c *Client) AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, signedCheckpoint []byte) ([]byte, error) {
	if c.Verifier == nil || c.URL == "" {
		return nil, errors.New("witness client: URL and Verifier are required")
	}
	text, _, err := auditor.SplitNote(signedCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	body := (&Request{OldSize: oldSize, Proof: proof, Checkpoint: signedCheckpoint}).Marshal()
	attempts, backoff := c.Attempts, c.Backoff
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			d := backoff << (i - 1)
			if d > maxBackoff || d <= 0 {
				d = maxBackoff
			}
			d = d/2 + rand.N(d/2+1) // jitter: the logs of a fleet do not retry in step
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("witness %s: %w (last error: %v)", c.Verifier.Name(), ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		status, answer, err := c.post(ctx, body)
		switch {
		case err != nil:
			lastErr = err
			if ctx.Err() != nil {
				return nil, fmt.Errorf("witness %s: %w", c.Verifier.Name(), err)
			}
			continue
		case status == http.StatusOK:
			return c.verify(text, answer)
		case status == http.StatusConflict:
			if n, ok := parseKnownSize(answer); ok && n != oldSize {
				return nil, &ConflictError{KnownSize: n}
			}
			return nil, &ResponseError{StatusCode: status, Message: firstLine(answer)}
		case status == http.StatusTooManyRequests || status >= 500:
			lastErr = &ResponseError{StatusCode: status, Message: firstLine(answer)}
			continue
		default:
			return nil, &ResponseError{StatusCode: status, Message: firstLine(answer)}
		}
	}
	return nil, fmt.Errorf("witness %s: %d attempts failed: %w", c.Verifier.Name(), attempts, lastErr)
}

func (c *Client) post(ctx context.Context, body []byte) (int, []byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(c.URL, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, err
	}
	if len(answer) > maxResponse {
		return 0, nil, fmt.Errorf("answer larger than %d bytes", maxResponse)
	}
	return resp.StatusCode, answer, nil
}

// verify keeps the answer's cosignatures of the witness's key; there must
// be one, and all must verify.
func (c *Client) verify(text string, answer []byte) ([]byte, error) {
	sigs, err := auditor.ParseSignatureLines(answer)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w: %v", c.Verifier.Name(), ErrCosignature, err)
	}
	var out []byte
	for _, s := range sigs {
		if s.Name != c.Verifier.Name() || s.Hash != c.Verifier.KeyHash() {
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(s.Base64)
		if !c.Verifier.Verify([]byte(text), raw[4:]) {
			return nil, fmt.Errorf("witness %s: %w: a cosignature does not verify", c.Verifier.Name(), ErrCosignature)
		}
		out = append(out, auditor.FormatSignature(s)...)
	}
	if out == nil {
		return nil, fmt.Errorf("witness %s: %w", c.Verifier.Name(), ErrCosignature)
	}
	return out, nil
}

func parseKnownSize(b []byte) (int64, bool) {
	s, ok := strings.CutSuffix(string(b), "\n")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, ok && err == nil && n >= 0 && strconv.FormatInt(n, 10) == s
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}

// ProveFunc returns the consistency proof from tree size old to the size of
// the checkpoint being sent.
type ProveFunc func(ctx context.Context, old int64) (tlog.TreeProof, error)

// Cosign gets the witness's cosignature of signedCheckpoint, starting from
// the size the caller believes the witness has (0 when it does not know)
// and answering one 409 known-size answer with a proof from the witness's
// size. It returns the cosignature lines and the witness's size for the
// next call: the checkpoint's size on success, the known size on a
// [*ConflictError] it could not meet (the witness has a larger tree).
func (c *Client) Cosign(ctx context.Context, oldSize int64, prove ProveFunc, signedCheckpoint []byte) (lines []byte, knownSize int64, err error) {
	text, _, err := auditor.SplitNote(signedCheckpoint)
	if err != nil {
		return nil, oldSize, fmt.Errorf("checkpoint: %w", err)
	}
	cp, err := auditor.ParseCheckpoint(text)
	if err != nil {
		return nil, oldSize, fmt.Errorf("checkpoint: %w", err)
	}
	old := oldSize
	if old < 0 || old > cp.Size {
		old = 0
	}
	for round := 0; ; round++ {
		var proof tlog.TreeProof
		if old > 0 && old < cp.Size {
			if proof, err = prove(ctx, old); err != nil {
				return nil, old, fmt.Errorf("consistency proof from size %d: %w", old, err)
			}
		}
		lines, err := c.AddCheckpoint(ctx, old, proof, signedCheckpoint)
		var ce *ConflictError
		switch {
		case err == nil:
			return lines, cp.Size, nil
		case errors.As(err, &ce) && ce.KnownSize <= cp.Size && round == 0:
			old = ce.KnownSize
		case errors.As(err, &ce):
			return nil, ce.KnownSize, err
		default:
			return nil, old, err
		}
	}
}
