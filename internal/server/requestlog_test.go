package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/server"
)

// syncBuffer is a log destination the test reads while handlers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestLogLevels: the request log keeps errors, refusals and slow
// requests at the default level and puts the successful hot path at
// debug, so that a busy server's log does not cost more than its audit.
// A line is written before the answer leaves (the middleware logs inside
// the handler), so each request's line, or its absence, is known once
// the client has the answer.
func TestRequestLogLevels(t *testing.T) {
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: t.TempDir(), TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, tc := range []struct {
		name  string
		level slog.Level
		slow  time.Duration
		path  string
		want  string // the line's level and message, "" for no line
		route string // the route the line names, if not GET path
	}{
		{"ok at info", slog.LevelInfo, 0, "/.well-known/jwks.json", "", ""},
		{"ok at debug", slog.LevelDebug, 0, "/.well-known/jwks.json", "level=DEBUG msg=request", ""},
		{"refused at info", slog.LevelInfo, 0, "/v1/audit", "level=INFO msg=request", ""},
		{"refused at warn", slog.LevelWarn, 0, "/v1/audit", "", ""},
		{"slow at info", slog.LevelInfo, time.Nanosecond, "/.well-known/jwks.json", "level=WARN msg=\"slow request\"", ""},
		{"unknown route at info", slog.LevelInfo, 0, "/nowhere", "level=INFO msg=request", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncBuffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			srv := httptest.NewServer(server.New(server.Config{Ledger: l, Logger: log, SlowRequest: tc.slow}).Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := buf.String()
			if tc.want == "" {
				if got != "" {
					t.Fatalf("GET %s (%s) logged at %v: %q, want nothing", tc.path, resp.Status, tc.level, got)
				}
				return
			}
			route := "route=\"GET " + tc.path + "\""
			if tc.route != "" {
				route = "route=" + tc.route + " "
			}
			if strings.Count(got, "\n") != 1 || !strings.Contains(got, tc.want) || !strings.Contains(got, route) {
				t.Fatalf("GET %s (%s) logged %q, want one line with %s", tc.path, resp.Status, got, tc.want)
			}
		})
	}
}
