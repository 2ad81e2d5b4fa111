package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// TextSink writes the classic one-line log
//
//	2026-11-26 23:15:20,123 - INFO - token.issue ok sub="alice" ...
//
// in append mode: INFO for successes, ERROR for refusals and failures. Every
// value that can come from outside is quoted with Go escapes, so no input can
// split a line or forge another entry. Times are in the local time zone, as
// in the classic format.
type TextSink struct {
	f     *os.File
	buf   []byte
	clock secondCache
}

// secondCache keeps the formatted local time of one second: consecutive
// records mostly share it.
type secondCache struct {
	unix int64
	text []byte
}

func (c *secondCache) appendSecond(b []byte, t time.Time) []byte {
	if c == nil {
		return t.Local().AppendFormat(b, "2006-01-02 15:04:05")
	}
	if sec := t.Unix(); sec != c.unix || c.text == nil {
		c.unix, c.text = sec, t.Local().AppendFormat(c.text[:0], "2006-01-02 15:04:05")
	}
	return append(b, c.text...)
}

// OpenTextSink opens (creating, mode 0600) path for appending.
func OpenTextSink(path string) (*TextSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open text audit log: %w", err)
	}
	return &TextSink{f: f}, nil
}

// Write appends one line per record with a single write call.
func (s *TextSink) Write(recs []*Record) error {
	b := s.buf[:0]
	for _, r := range recs {
		b = appendText(b, r, &s.clock)
	}
	s.buf = b
	_, err := s.f.Write(b)
	return err
}

// Close closes the file.
func (s *TextSink) Close() error { return s.f.Close() }

// AppendText appends the text-log line of r, newline included.
func AppendText(b []byte, r *Record) []byte { return appendText(b, r, nil) }

func appendText(b []byte, r *Record, clock *secondCache) []byte {
	b = clock.appendSecond(b, r.Time)
	b = append(b, ',')
	ms := r.Time.Nanosecond() / int(time.Millisecond)
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	if r.Refused() {
		b = append(b, " - ERROR - "...)
	} else {
		b = append(b, " - INFO - "...)
	}
	b = append(b, r.Event...)
	b = append(b, ' ')
	b = append(b, r.Outcome...)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, r.Seq, 10)
	kv := func(k, v string) {
		if v != "" {
			b = append(b, ' ')
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendQuote(b, v)
		}
	}
	kv("sub", r.Sub)
	for _, a := range r.Aud {
		kv("aud", a)
	}
	kv("jti", r.JTI)
	kv("kid", r.KID)
	kv("alg", r.Alg)
	if !r.Exp.IsZero() {
		// An RFC 3339 time needs no escaping: quoted as kv would.
		b = append(b, ` exp="`...)
		b = r.Exp.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, '"')
	}
	kv("actor", r.Actor)
	kv("remote", r.Remote)
	kv("request_id", r.RequestID)
	kv("reason", r.Reason)
	return append(b, '\n')
}

// JSONSink writes one JSON object per record and line.
type JSONSink struct {
	w      *bufio.Writer
	closer io.Closer
}

// NewJSONSink writes JSON lines to w; closer (may be nil) is closed on Close.
func NewJSONSink(w io.Writer, closer io.Closer) *JSONSink {
	return &JSONSink{w: bufio.NewWriter(w), closer: closer}
}

// OpenJSONSink opens (creating, mode 0600) path for appending JSON lines.
func OpenJSONSink(path string) (*JSONSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open JSON audit log: %w", err)
	}
	return NewJSONSink(f, f), nil
}

// WantsCheckpoints makes the JSON sink receive audit.checkpoint events.
func (s *JSONSink) WantsCheckpoints() bool { return true }

// Write appends the records and flushes.
func (s *JSONSink) Write(recs []*Record) error {
	for _, r := range recs {
		j, err := json.Marshal(r)
		if err != nil {
			return err
		}
		s.w.Write(j)
		s.w.WriteByte('\n')
	}
	return s.w.Flush()
}

// Close flushes and closes.
func (s *JSONSink) Close() error {
	err := s.w.Flush()
	if s.closer != nil {
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
