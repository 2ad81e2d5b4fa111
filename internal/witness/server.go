package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// A Log is a log the witness cosigns for, identified by its checkpoint
// origin, and the keys trusted to sign its checkpoints (more than one while
// the log rotates its key).
type Log struct {
	Origin    string
	Verifiers []note.Verifier
}

// Config configures a [Witness].
type Config struct {
	// Dir is the witness directory: the state of every log (the latest
	// checkpoint cosigned) and a lock held while the witness runs. It is
	// created if needed.
	Dir string
	// Signer cosigns; see [LoadKey].
	Signer *Signer
	// Logs are the logs witnessed. A checkpoint of any other origin is
	// refused with 404.
	Logs []Log
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of cosignature timestamps; nil means time.Now.
	Now func() time.Time
}

// A Witness is a C2SP tlog-witness server: see [Witness.Handler].
type Witness struct {
	signer *Signer
	logs   map[string]*witnessedLog
	log    *slog.Logger
	now    func() time.Time
	lock   *os.File
}

type witnessedLog struct {
	verifiers note.Verifiers
	state     *logState
}

// New opens the witness directory, takes its lock and reads the state of
// every configured log. It fails if a state file is damaged: a witness that
// forgot what it cosigned could cosign a split view.
func New(cfg Config) (*Witness, error) {
	if cfg.Signer == nil {
		return nil, errors.New("witness: no signer")
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: no log to witness")
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, stateDir), 0o700); err != nil {
		return nil, fmt.Errorf("witness directory: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	w := &Witness{signer: cfg.Signer, logs: map[string]*witnessedLog{}, log: cfg.Logger, now: cfg.Now, lock: lock}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	for _, l := range cfg.Logs {
		if l.Origin == "" || len(l.Verifiers) == 0 {
			lock.Close()
			return nil, fmt.Errorf("witness: log %q has no origin or no key", l.Origin)
		}
		if _, dup := w.logs[l.Origin]; dup {
			lock.Close()
			return nil, fmt.Errorf("witness: log %q is configured twice (give all its keys in one Log)", l.Origin)
		}
		st, err := loadState(cfg.Dir, l.Origin)
		if err != nil {
			lock.Close()
			return nil, err
		}
		w.logs[l.Origin] = &witnessedLog{verifiers: note.VerifierList(l.Verifiers...), state: st}
	}
	return w, nil
}

// Close releases the witness directory.
func (w *Witness) Close() error { return w.lock.Close() }

// VerifierKey returns the witness verifier key, for the policies of those
// who rely on its cosignatures.
func (w *Witness) VerifierKey() string { return w.signer.Verifier().String() }

// LogState is the latest checkpoint a witness cosigned for a log.
type LogState struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Time   time.Time // of the cosignature; zero when never cosigned
}

// Logs returns the state of every witnessed log, by origin.
func (w *Witness) Logs() []LogState {
	var out []LogState
	for origin, l := range w.logs {
		l.state.mu.Lock()
		s := LogState{Origin: origin, Size: l.state.cur.Size, Root: l.state.cur.Root}
		if l.state.cur.Checkpoint != "" {
			s.Time = time.Unix(l.state.cur.Time, 0).UTC()
		}
		l.state.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out
}

// Handler serves the witness: POST /add-checkpoint as C2SP tlog-witness
// says, and GET / with the witness's verifier key and the state of its
// logs as text. Mount it under a prefix with [http.StripPrefix].
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.serveAddCheckpoint)
	mux.HandleFunc("GET /{$}", w.serveIndex)
	return mux
}

// statusError is a refusal: the HTTP status, the message for the client,
// and for a 409 the size the witness has cosigned.
type statusError struct {
	code      int
	msg       string
	knownSize int64
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

func refuse(code int, format string, args ...any) *statusError {
	return &statusError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(rw, fmt.Sprintf("request body larger than %d bytes", MaxRequestSize), http.StatusRequestEntityTooLarge)
		} else {
			http.Error(rw, "cannot read the request body", http.StatusBadRequest)
		}
		return
	}
	sig, err := w.addCheckpoint(r.Context(), body)
	var se *statusError
	switch {
	case errors.As(err, &se) && se.code == http.StatusConflict:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", se.knownSize)
	case errors.As(err, &se):
		http.Error(rw, se.msg, se.code)
	case err != nil:
		w.log.ErrorContext(r.Context(), "add-checkpoint failed", "err", err)
		http.Error(rw, "the witness could not record the checkpoint", http.StatusInternalServerError)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(rw, auditor.FormatSignature(sig))
	}
}

// addCheckpoint runs the checks of the spec, in its order, and returns the
// cosignature once the new state is durable.
func (w *Witness) addCheckpoint(ctx context.Context, body []byte) (note.Signature, error) {
	req, err := ParseRequest(body)
	if err != nil {
		return note.Signature{}, refuse(http.StatusBadRequest, "%v", err)
	}
	origin, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	l, ok := w.logs[string(origin)]
	if !ok {
		return note.Signature{}, refuse(http.StatusNotFound, "unknown log")
	}
	n, err := note.Open(req.Checkpoint, l.verifiers)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return note.Signature{}, refuse(http.StatusForbidden, "the checkpoint has no signature of a key trusted for this log")
	case errors.As(err, &invalid):
		return note.Signature{}, refuse(http.StatusForbidden, "invalid signature of log key %s", invalid.Name)
	case err != nil:
		return note.Signature{}, refuse(http.StatusBadRequest, "the checkpoint is not a signed note")
	}
	cp, err := auditor.ParseCheckpoint(n.Text)
	if err != nil {
		return note.Signature{}, refuse(http.StatusBadRequest, "%v", err)
	}
	if req.OldSize > cp.Size {
		return note.Signature{}, refuse(http.StatusBadRequest, "old size %d is larger than the checkpoint size %d", req.OldSize, cp.Size)
	}

	st := l.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.broken {
		return note.Signature{}, errors.New("the state of this log could not be saved earlier; restart the witness")
	}
	cur := st.cur
	cosigned := cur.Checkpoint != ""
	if req.OldSize != cur.Size {
		return note.Signature{}, &statusError{code: http.StatusConflict, msg: "old size is not the size last cosigned", knownSize: cur.Size}
	}
	switch {
	case req.OldSize == cp.Size:
		if cosigned && cp.Root != cur.Root {
			w.refused(ctx, "checkpoint of the cosigned size with another root hash", cp, cur, req.Checkpoint)
			return note.Signature{}, &statusError{code: http.StatusConflict, msg: "root hash differs from the one cosigned at this size", knownSize: cur.Size}
		}
		if len(req.Proof) != 0 {
			return note.Signature{}, refuse(http.StatusUnprocessableEntity, "a consistency proof between equal sizes is empty")
		}
	case req.OldSize > 0:
		if err := tlog.CheckTree(req.Proof, cp.Size, cp.Root, req.OldSize, cur.Root); err != nil {
			w.refused(ctx, "consistency proof does not verify", cp, cur, req.Checkpoint)
			return note.Signature{}, refuse(http.StatusUnprocessableEntity, "the consistency proof from size %d does not verify", req.OldSize)
		}
	}
	ts := max(w.now().Unix(), cur.Time)
	sig, err := w.signer.Cosign(n.Text, time.Unix(ts, 0))
	if err != nil {
		return note.Signature{}, err
	}
	next := stateFile{Origin: cp.Origin, Size: cp.Size, Root: cp.Root, Time: ts,
		Checkpoint: string(req.Checkpoint) + auditor.FormatSignature(sig)}
	if err := st.save(next); err != nil {
		return note.Signature{}, err
	}
	w.log.InfoContext(ctx, "cosigned", "origin", cp.Origin, "size", cp.Size, "old_size", req.OldSize)
	return sig, nil
}

// refused logs a checkpoint that the log signed but that is inconsistent
// with what the witness cosigned: it may be evidence of a split view.
func (w *Witness) refused(ctx context.Context, why string, cp auditor.Checkpoint, cur stateFile, signed []byte) {
	w.log.WarnContext(ctx, "refused inconsistent checkpoint", "why", why, "origin", cp.Origin,
		"size", cp.Size, "root", cp.Root.String(), "cosigned_size", cur.Size, "cosigned_root", cur.Root.String(), "checkpoint", string(signed))
}

func (w *Witness) serveIndex(rw http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "C2SP tlog-witness (jwtledger witness serve)\n\nverifier key: %s\n\nlogs:\n", w.VerifierKey())
	for _, l := range w.Logs() {
		b.WriteString("  " + l.Origin + " size " + strconv.FormatInt(l.Size, 10))
		if !l.Time.IsZero() {
			b.WriteString(" root " + l.Root.String() + " cosigned " + l.Time.Format(time.RFC3339))
		}
		b.WriteString("\n")
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(b.Bytes())
}
