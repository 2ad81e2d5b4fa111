package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/trail"
)

func newWitnessSigner(t *testing.T, name string) *witness.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A witness that is away shows in /metrics (failures, an unwitnessed
// checkpoint waiting) and in /readyz's details, which stays 200: witnessing
// never stops issuance.
func TestWitnessingInMetricsAndReadiness(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l0, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	vkey, origin := l0.Trail().VerifierKey(), auditor.Origin(l0.NodeID())
	l0.Close()
	lv, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	up := newWitnessSigner(t, "up")
	w, err := witness.New(witness.Config{Dir: t.TempDir(), Signer: up, Logs: []witness.Log{{Origin: origin, Verifiers: []note.Verifier{lv}}}})
	if err != nil {
		t.Fatal(err)
	}
	upSrv := httptest.NewServer(w.Handler())
	t.Cleanup(func() { upSrv.Close(); w.Close() })
	downSrv := httptest.NewServer(http.NotFoundHandler())
	downSrv.Close()
	down := newWitnessSigner(t, "down")

	e := newEnv(t, func(c *jwtledger.Config) {
		c.DataDir = dir
		c.Witnesses = []auditor.Witness{
			{Name: "up", Verifier: up.Verifier(), URL: upSrv.URL},
			{Name: "down", Verifier: down.Verifier(), URL: downSrv.URL},
		}
	})
	cp, err := e.l.Trail().Checkpoint(ctx, trail.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	size := strconv.FormatInt(cp.Size, 10)
	deadline := time.Now().Add(20 * time.Second)
	var body []byte
	for {
		_, body, _ = e.do("GET", "/metrics", "", "", nil)
		if regexp.MustCompile(`jwtledger_witness_cosigned_size\{chain="[^"]+",witness="up"\} `+size+`\n`).Match(body) &&
			regexp.MustCompile(`jwtledger_witness_failures_total\{chain="[^"]+",witness="down"\} [1-9]`).Match(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics do not show witness up at %s and witness down failing:\n%s", size, body)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	for _, want := range []string{
		`jwtledger_audit_witnessed_checkpoint_age_seconds\{chain="[^"]+"\} \+Inf\n`,
		`jwtledger_audit_witnessed_checkpoint_size\{chain="[^"]+"\} 0\n`,
		`jwtledger_audit_checkpoint_size\{chain="[^"]+"\} ` + size + `\n`,
		`jwtledger_audit_unwitnessed_seconds\{chain="[^"]+"\} [0-9.]+\n`,
		`jwtledger_witness_failures_total\{chain="[^"]+",witness="up"\} 0\n`,
	} {
		if !regexp.MustCompile(want).Match(body) {
			t.Errorf("metrics lack %s", want)
		}
	}
	code, b, _ := e.do("GET", "/readyz", "", "", nil)
	var ready struct {
		Status     string                 `json:"status"`
		Witnessing trail.WitnessingStatus `json:"witnessing"`
	}
	if err := json.Unmarshal(b, &ready); err != nil || code != 200 || ready.Status != "ready" {
		t.Fatalf("readyz %d %s", code, b)
	}
	if ws := ready.Witnessing; ws.Quorum != "all" || ws.Checkpoint != cp.Size || ws.Witnessed != 0 || len(ws.Witnesses) != 2 || ws.Witnesses[1].Error == "" || ws.UnwitnessedSince.IsZero() {
		t.Fatalf("readyz witnessing details: %s", b)
	}
	// The newest checkpoint's note carries the cosignature it has.
	code, b, _ = e.do("GET", "/v1/audit/checkpoint", "auditor", "", nil)
	var got struct {
		Checkpoint trail.Checkpoint `json:"checkpoint"`
	}
	if err := json.Unmarshal(b, &got); err != nil || code != 200 {
		t.Fatalf("GET /v1/audit/checkpoint: %d %s", code, b)
	}
	p, err := auditor.NewPolicy([]auditor.Witness{{Name: "up", Verifier: up.Verifier()}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := p.Verify([]byte(got.Checkpoint.Note)); err != nil || !r.Witnessed || got.Checkpoint.Size != cp.Size {
		t.Fatalf("the checkpoint served is not cosigned by the witness: %v\n%s", err, got.Checkpoint.Note)
	}
	if code, _ := e.json("POST", "/v1/tokens", "issuer", map[string]any{"sub": "a", "aud": "api"}); code != 200 {
		t.Fatalf("issuance with a witness away: %d", code)
	}
}
