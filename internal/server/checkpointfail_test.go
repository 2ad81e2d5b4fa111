package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/server"
)

// A checkpoint that fails (here a trigger refusing new checkpoint rows) is
// visible within one checkpoint interval in /readyz, GET /v1/audit/verify
// (the uncovered records and the error) and /metrics; once checkpoints
// succeed again, so does readiness.
func TestCheckpointFailureVisible(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const interval = 400 * time.Millisecond
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, CheckpointInterval: interval, CheckpointMinInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	auditClient, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "auditor", Scopes: []string{clientauth.ScopeAudit}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	issue := func(n int) {
		for range n {
			if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "cp"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue(10)
	var covered int64
	within(t, 10*time.Second, "a checkpoint of the first records", func() bool {
		cps, _ := l.Trail().Checkpoints(ctx, "")
		if len(cps) > 0 {
			covered = cps[len(cps)-1].Size
		}
		return covered >= 11
	})
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "jwtledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TRIGGER refuse_checkpoints BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'injected checkpoint failure'); END"); err != nil {
		t.Fatal(err)
	}
	issue(10)
	metrics := func() string {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	seen := within(t, 10*time.Second, "the failure in readiness and metrics", func() bool {
		return readyStatus(srv.URL) == http.StatusServiceUnavailable && strings.Contains(metrics(), "jwtledger_audit_checkpoint_failing 1")
	})
	t.Logf("checkpoint failure visible %s after the records (interval %s)", seen.Round(time.Millisecond), interval)
	// Due one interval after the last checkpoint, tried on the next tick
	// (CheckpointMinInterval), then visible at once; the slack is for a
	// loaded CI machine (the figure is logged above).
	if limit := interval + 100*time.Millisecond + time.Second; seen > limit {
		t.Fatalf("visible only after %s, want within one interval and a tick (%s) plus slack", seen, limit)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+auditClient.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rep auditor.LogReport
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	var uncovered *auditor.Damage
	for i, d := range rep.Damage {
		if d.Kind == auditor.DamageUncovered {
			uncovered = &rep.Damage[i]
		}
	}
	if rep.OK || rep.CheckpointFailure == nil || uncovered == nil || uncovered.Seq != covered+1 || !strings.Contains(rep.CheckpointFailure.Err, "injected checkpoint failure") {
		t.Fatalf("GET /v1/audit/verify while checkpoints fail: %+v", rep)
	}
	t.Logf("verify report: %s at seq %d: %s", uncovered.Kind, uncovered.Seq, uncovered.Detail)
	if m := metrics(); !strings.Contains(m, "jwtledger_audit_checkpoint_failures_total ") || strings.Contains(m, "jwtledger_audit_checkpoint_failures_total 0\n") {
		t.Fatalf("failures not counted:\n%s", m)
	}
	if _, err := db.Exec("DROP TRIGGER refuse_checkpoints"); err != nil {
		t.Fatal(err)
	}
	back := within(t, 40*time.Second, "ready again once checkpoints succeed", func() bool { return readyStatus(srv.URL) == http.StatusOK })
	t.Logf("ready again %s after checkpoints could succeed (retry backoff)", back.Round(time.Millisecond))
}
