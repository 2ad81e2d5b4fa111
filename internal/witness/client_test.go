package witness_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

// roundTripper answers requests with a function, without a network, so
// that the client's timers run on synctest's clock.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func respond(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
}

// serveWith answers through h, as an HTTP server would.
func serveWith(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

func TestClientRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := witnesstest.NewLog(t, origin)
		s := newSigner(t, "witness.example/w")
		h := newHandler(t, s, log)
		var times []time.Duration
		start := time.Now()
		fails := []func() (*http.Response, error){
			func() (*http.Response, error) { return nil, errors.New("connection refused") },
			func() (*http.Response, error) { return respond(503, "busy\n"), nil },
		}
		c := &witness.Client{URL: "http://witness.test/", Verifier: s.Verifier(), Backoff: time.Second,
			HTTPClient: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
				times = append(times, time.Since(start))
				if len(times) <= len(fails) {
					return fails[len(times)-1]()
				}
				if r.URL.Path != "/add-checkpoint" || r.Method != "POST" {
					t.Errorf("request %s %s", r.Method, r.URL)
				}
				return serveWith(h, r), nil
			})}}
		tree := &witnesstest.Tree{}
		tree.AppendN("r", 3)
		lines, err := c.AddCheckpoint(t.Context(), 0, nil, log.Sign(t, tree))
		if err != nil {
			t.Fatal(err)
		}
		checkCosigned(t, answer{status: 200, body: string(lines)}, s, log.Sign(t, tree))
		if len(times) != 3 {
			t.Fatalf("attempts at %v, want 3", times)
		}
		// Waits: [0.5s, 1s] then [1s, 2s] (doubling, with jitter).
		if d := times[1] - times[0]; d < 500*time.Millisecond || d > time.Second {
			t.Errorf("first backoff %v", d)
		}
		if d := times[2] - times[1]; d < time.Second || d > 2*time.Second {
			t.Errorf("second backoff %v", d)
		}
	})
}

func TestClientAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := witnesstest.NewLog(t, origin)
		s := newSigner(t, "witness.example/w")
		var calls atomic.Int32
		c := &witness.Client{URL: "http://witness.test", Verifier: s.Verifier(), Timeout: 2 * time.Second, Attempts: 2, Backoff: time.Second,
			HTTPClient: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
				calls.Add(1)
				<-r.Context().Done() // a witness that never answers
				return nil, r.Context().Err()
			})}}
		tree := &witnesstest.Tree{}
		tree.AppendN("r", 3)
		start := time.Now()
		_, err := c.AddCheckpoint(t.Context(), 0, nil, log.Sign(t, tree))
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want a deadline", err)
		}
		if d := time.Since(start); calls.Load() != 2 || d < 4500*time.Millisecond || d > 5*time.Second {
			t.Errorf("%d calls in %v, want 2 in 2s + [0.5s,1s] + 2s", calls.Load(), d)
		}

		// The caller's context bounds it all.
		calls.Store(0)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		c.Attempts = 10
		start = time.Now()
		if _, err := c.AddCheckpoint(ctx, 0, nil, log.Sign(t, tree)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d != 3*time.Second || calls.Load() > 2 {
			t.Errorf("stopped after %v and %d calls, want at the caller's 3s", d, calls.Load())
		}
	})
}

func TestClientAnswers(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "witness.example/w")
	other := newSigner(t, "witness.example/w")
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 3)
	signed := log.Sign(t, tree)
	good, err := s.Cosign(strings.SplitN(string(signed), "\n\n", 2)[0]+"\n", time.Unix(1800000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	goodLine := "— " + good.Name + " " + good.Base64 + "\n"
	foreign, _ := other.Cosign(strings.SplitN(string(signed), "\n\n", 2)[0]+"\n", time.Unix(1800000000, 0))
	foreignLine := "— " + foreign.Name + " " + foreign.Base64 + "\n"
	corrupted := goodLine[:len(goodLine)-3] + "A=\n"
	if corrupted == goodLine {
		corrupted = goodLine[:len(goodLine)-3] + "B=\n"
	}
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
		known   int64
		lines   string
		calls   int32
	}{
		{name: "cosigned", status: 200, body: goodLine, lines: goodLine, calls: 1},
		{name: "other keys dropped", status: 200, body: foreignLine + goodLine, lines: goodLine, calls: 1},
		{name: "only another key", status: 200, body: foreignLine, wantErr: witness.ErrCosignature, calls: 1},
		{name: "invalid cosignature", status: 200, body: corrupted, wantErr: witness.ErrCosignature, calls: 1},
		{name: "not signature lines", status: 200, body: "ok\n", wantErr: witness.ErrCosignature, calls: 1},
		{name: "known size", status: 409, body: "12\n", known: 12, calls: 1},
		{name: "409 at the size sent", status: 409, body: "0\n", wantErr: witness.ErrInconsistent, calls: 1},
		{name: "bad proof", status: 422, body: "no\n", wantErr: witness.ErrInconsistent, calls: 1},
		{name: "unknown log", status: 404, wantErr: witness.ErrUnknownLog, calls: 1},
		{name: "signature refused", status: 403, wantErr: witness.ErrLogSignature, calls: 1},
		{name: "malformed", status: 400, wantErr: witness.ErrBadRequest, calls: 1},
		{name: "server error retried", status: 500, body: "oops\n", wantErr: errors.New("500"), calls: 2},
		{name: "rate limited retried", status: 429, wantErr: errors.New("429"), calls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			c := &witness.Client{URL: "http://witness.test", Verifier: s.Verifier(), Attempts: 2, Backoff: time.Millisecond,
				HTTPClient: &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
					calls.Add(1)
					return respond(tt.status, tt.body), nil
				})}}
			lines, err := c.AddCheckpoint(t.Context(), 0, nil, signed)
			if calls.Load() != tt.calls {
				t.Errorf("%d requests, want %d", calls.Load(), tt.calls)
			}
			var ce *witness.ConflictError
			switch {
			case tt.known != 0:
				if !errors.As(err, &ce) || ce.KnownSize != tt.known {
					t.Fatalf("err %v, want a ConflictError with %d", err, tt.known)
				}
			case tt.wantErr == nil:
				if err != nil || string(lines) != tt.lines {
					t.Fatalf("lines %q, %v; want %q", lines, err, tt.lines)
				}
			case tt.wantErr.Error() == "500" || tt.wantErr.Error() == "429":
				var re *witness.ResponseError
				if !errors.As(err, &re) || re.StatusCode != tt.status {
					t.Fatalf("err %v, want a ResponseError %d", err, tt.status)
				}
			default:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
			}
		})
	}
}

// newHandler returns the handler of a witness of the log on a new
// directory, without a server (synctest bubbles have no network).
func newHandler(t *testing.T, s *witness.Signer, log *witnesstest.Log) http.Handler {
	t.Helper()
	w, err := witness.New(witness.Config{Dir: t.TempDir(), Signer: s, Logs: []witness.Log{{Origin: log.Origin, Verifiers: []note.Verifier{log.Verifier}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w.Handler()
}

// TestCosign runs the client's 409 handling against a real witness over
// HTTP: a client that does not know the witness's size learns it and sends
// a proof from it; a witness that has seen a larger tree is reported.
func TestCosign(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "witness.example/w")
	_, srv := openWitness(t, t.TempDir(), s, nil, log)
	c := &witness.Client{URL: srv.URL, Verifier: s.Verifier()}
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 5)
	first := log.Sign(t, tree)
	if _, known, err := c.Cosign(t.Context(), 0, nil, first); err != nil || known != 5 {
		t.Fatalf("first cosignature: %d %v", known, err)
	}
	saved := tree.Fork()
	tree.AppendN("r", 4)
	var asked []int64
	prove := func(ctx context.Context, old int64) (tlog.TreeProof, error) {
		asked = append(asked, old)
		return tree.Prove(old), nil
	}
	// The caller lost track of the witness (old size 0).
	lines, known, err := c.Cosign(t.Context(), 0, prove, log.Sign(t, tree))
	if err != nil || known != 9 || len(asked) != 1 || asked[0] != 5 {
		t.Fatalf("Cosign = %q %d %v, proofs asked from %v", lines, known, err, asked)
	}
	checkCosigned(t, answer{status: 200, body: string(lines)}, s, log.Sign(t, tree))

	// The log shows a smaller tree than the witness has cosigned.
	_, known, err = c.Cosign(t.Context(), 5, prove, log.Sign(t, saved))
	var ce *witness.ConflictError
	if !errors.As(err, &ce) || known != 9 {
		t.Fatalf("rolled-back log: %d %v, want a ConflictError at 9", known, err)
	}

	// A fork of the cosigned tree.
	fork := saved.Fork()
	fork.AppendN("evil", 6)
	forkProve := func(ctx context.Context, old int64) (tlog.TreeProof, error) { return fork.Prove(old), nil }
	if _, _, err := c.Cosign(t.Context(), 9, forkProve, log.Sign(t, fork)); !errors.Is(err, witness.ErrInconsistent) {
		t.Fatalf("fork: %v, want ErrInconsistent", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	log := witnesstest.NewLog(t, origin)
	s := newSigner(t, "w")
	for name, cfg := range map[string]witness.Config{
		"no signer":       {Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{log.Verifier}}}},
		"no log":          {Signer: s},
		"log without key": {Signer: s, Logs: []witness.Log{{Origin: origin}}},
		"log twice":       {Signer: s, Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{log.Verifier}}, {Origin: origin, Verifiers: []note.Verifier{log.Verifier}}}},
	} {
		cfg.Dir = t.TempDir()
		if w, err := witness.New(cfg); err == nil {
			w.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
