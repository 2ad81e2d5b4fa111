package witness_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/internal/witness/witnesstest"
)

// FuzzParseRequest: no panic; an accepted request body marshals back to
// exactly the same bytes; every error wraps ErrMalformedRequest.
func FuzzParseRequest(f *testing.F) {
	log := witnesstest.NewLog(f, origin)
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 7)
	f.Add(request(3, tree.Prove(3), log.Sign(f, tree)))
	f.Add(request(0, nil, log.Sign(f, tree)))
	f.Add([]byte("old 1\n\n"))
	f.Add([]byte("old 01\nAAAA\n\nx"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := witness.ParseRequest(body)
		if err != nil {
			if !errors.Is(err, witness.ErrMalformedRequest) {
				t.Fatalf("error %v does not wrap ErrMalformedRequest", err)
			}
			return
		}
		if again := r.Marshal(); !bytes.Equal(again, body) {
			t.Fatalf("ParseRequest(%q) marshals as %q", body, again)
		}
	})
}

// FuzzAddCheckpoint sends arbitrary bodies to a witness that has cosigned
// a log at size 7: it never fails with a 5xx, and cosigns only a
// checkpoint signed by the log key that extends its tree.
func FuzzAddCheckpoint(f *testing.F) {
	log := witnesstest.NewLog(f, origin)
	tree := &witnesstest.Tree{}
	tree.AppendN("r", 7)
	s := newSigner(f, "witness.example/w")
	w, err := witness.New(witness.Config{Dir: f.TempDir(), Signer: s, Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{log.Verifier}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	h := w.Handler()
	send := func(body []byte) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/add-checkpoint", bytes.NewReader(body)))
		return rec
	}
	if rec := send(request(0, nil, log.Sign(f, tree))); rec.Code != 200 {
		f.Fatalf("first checkpoint: %d %s", rec.Code, rec.Body)
	}
	f.Add(request(7, nil, log.Sign(f, tree)))
	grown := tree.Fork()
	grown.AppendN("r", 2)
	f.Add(request(7, grown.Prove(7), log.Sign(f, grown)))
	f.Add(request(3, grown.Prove(3), log.Sign(f, grown)))
	f.Add([]byte("old 7\n\njwtledger/node-a\n9\n\n— x AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := send(body)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code == http.StatusOK {
			req, err := witness.ParseRequest(body)
			if err != nil {
				t.Fatalf("cosigned an unparsable request %q", body)
			}
			if _, err := note.Open(req.Checkpoint, note.VerifierList(log.Verifier)); err != nil {
				t.Fatalf("cosigned a checkpoint not signed by the log: %q", body)
			}
		}
	})
}
