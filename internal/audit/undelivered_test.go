package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// syncFailStore numbers, encodes and keeps records like a real store; a
// batch told to fail either keeps its records and then reports an error
// (the commit went through but its sync failed) or keeps nothing.
type syncFailStore struct {
	mu     sync.Mutex
	bodies [][]byte
	recs   []*audit.Record
	mode   string // "", "sync fails" or "commit fails"
	down   bool   // reads fail too
}

var errSync = errors.New("sync write-ahead log: input/output error")

func (s *syncFailStore) Append(_ context.Context, chain string, recs []*audit.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range recs {
		r.Chain, r.Seq = chain, uint64(len(s.bodies)+i+1)
		r.LeafHash = audit.LeafHash(audit.Encode(nil, r))
	}
	if s.mode == "commit fails" {
		return errors.New("database or disk is full")
	}
	for _, r := range recs {
		s.bodies = append(s.bodies, audit.Encode(nil, r))
		s.recs = append(s.recs, r)
	}
	if s.mode == "sync fails" {
		return errSync
	}
	return nil
}

func (s *syncFailStore) RecordBody(_ context.Context, _ string, seq int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errors.New("store away")
	}
	if seq < 1 || seq > int64(len(s.bodies)) {
		return nil, errors.New("not found")
	}
	return s.bodies[seq-1], nil
}

func (s *syncFailStore) TreeSize(context.Context, string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errors.New("store away")
	}
	return int64(len(s.bodies)), nil
}

func (s *syncFailStore) set(mode string, down bool) {
	s.mu.Lock()
	s.mode, s.down = mode, down
	s.mu.Unlock()
}

// A batch whose commit went through but whose durability failed gets an
// audit.undelivered record naming its seq range once the store answers
// again; a batch the store does not hold gets none.
func TestUndeliveredMarkers(t *testing.T) {
	cases := []struct {
		name      string
		mode      string
		wantMarks int
	}{
		{"sync fails after the commit", "sync fails", 1},
		{"commit fails", "commit fails", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &syncFailStore{}
			w := audit.NewWriter(s, "c", nil, nil)
			defer w.Close()
			ctx := context.Background()
			appendOne := func() error {
				return w.Record(ctx, func() *audit.Record { return &audit.Record{Event: audit.TokenIssue, Outcome: audit.OK, JTI: "j"} })
			}
			for range 3 {
				if err := appendOne(); err != nil {
					t.Fatal(err)
				}
			}
			s.set(c.mode, true)
			if err := appendOne(); err == nil {
				t.Fatal("append into a failing store: no error")
			}
			// While the store cannot be read, nothing is decided.
			w.Reconcile(ctx)
			s.set("", false)
			if err := w.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			var marks []*audit.Record
			for _, r := range s.recs {
				if r.Event == audit.AuditUndelivered {
					marks = append(marks, r)
				}
			}
			if len(marks) != c.wantMarks {
				t.Fatalf("%d undelivered markers, want %d", len(marks), c.wantMarks)
			}
			if c.wantMarks == 1 {
				first, last, ok := audit.ParseUndelivered(marks[0].Reason)
				if !ok || first != 4 || last != 4 || marks[0].Outcome != audit.Error || marks[0].Seq != 5 {
					t.Fatalf("marker: seq %d %q, want seq 5 saying 4..4", marks[0].Seq, marks[0].Reason)
				}
				if st := w.Stats(); st.Undelivered != 1 {
					t.Fatalf("Stats.Undelivered = %d", st.Undelivered)
				}
			}
			// Settled: a second reconcile adds nothing.
			n := len(s.recs)
			w.Reconcile(ctx)
			if len(s.recs) != n {
				t.Fatal("a second reconcile appended again")
			}
		})
	}
}
