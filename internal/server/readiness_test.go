package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
)

// smallDisk mounts an 8 MiB tmpfs for the test. It needs root; without it
// the test is skipped, except in CI (CI=true), where it fails.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the full-disk test mounts a tmpfs and needs root in CI")
		}
		t.Skip("the full-disk test mounts a tmpfs: run as root (CI does)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// readyWithin polls /readyz (no other traffic) until it answers want, and
// returns how long that took.
func readyWithin(t *testing.T, url string, want int, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if readyStatus(url) == want {
			return time.Since(start)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: /readyz not %d within 10 s", what, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An idle server on a small disk: readiness turns red within a second of
// the disk filling up and green within a second of the space coming back,
// with no other request.
func TestReadinessFullDisk(t *testing.T) {
	dir := smallDisk(t)
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	readyWithin(t, srv.URL, http.StatusOK, "before")
	filler := filepath.Join(dir, "filler")
	for round := range 2 {
		fill(t, filler)
		red := readyWithin(t, srv.URL, http.StatusServiceUnavailable, "disk full")
		// Fail closed meanwhile: an issuance is either recorded or refused.
		_, ierr := l.Issue(ctx, jwtledger.IssueRequest{Subject: "full"})
		os.Remove(filler)
		green := readyWithin(t, srv.URL, http.StatusOK, "space back")
		t.Logf("round %d: red %s after the disk filled, green %s after space came back (issue on the full disk: %v)", round, red.Round(time.Millisecond), green.Round(time.Millisecond), ierr)
		if red > time.Second || green > time.Second {
			t.Fatalf("red after %s, green after %s: want both within 1 s", red, green)
		}
	}
	if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "after"}); err != nil {
		t.Fatalf("issue after the space came back: %v", err)
	}
}

// An idle node on PostgreSQL: readiness turns red within a second of the
// server stopping and green within a second of it accepting connections
// again, with no other request.
func TestReadinessPostgresStopped(t *testing.T) {
	pg := pgtest.StartServer(t)
	ctx := context.Background()
	master := make([]byte, 32)
	rand.Read(master)
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir(), Store: pg.URL(), MasterKey: master, NodeID: "node-r"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	readyWithin(t, srv.URL, http.StatusOK, "before")
	for round := range 2 {
		pg.Stop()
		red := readyWithin(t, srv.URL, http.StatusServiceUnavailable, "server stopped")
		pg.Start()
		green := readyWithin(t, srv.URL, http.StatusOK, "server started")
		t.Logf("round %d: red %s after PostgreSQL stopped, green %s after it started", round, red.Round(time.Millisecond), green.Round(time.Millisecond))
		if red > time.Second || green > time.Second {
			t.Fatalf("red after %s, green after %s: want both within 1 s", red, green)
		}
	}
	if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "after"}); err != nil {
		t.Fatalf("issue after the restart: %v", err)
	}
}

// Opening a ledger on a full disk fails with a hint that says so (not
// that the file is no SQLite database), and works once space is back.
func TestOpenOnFullDisk(t *testing.T) {
	cases := []struct {
		name     string
		existing bool
	}{
		{"an existing ledger", true},
		{"a new data directory", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := smallDisk(t)
			ctx := context.Background()
			data := filepath.Join(dir, "data")
			if c.existing {
				l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: data})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "s"}); err != nil {
					t.Fatal(err)
				}
				l.Close()
			}
			filler := filepath.Join(dir, "filler")
			fill(t, filler)
			_, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: data})
			if err == nil {
				t.Fatal("open on a full disk succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, "file system is full") || strings.Contains(msg, "must be a SQLite database") {
				t.Fatalf("open on a full disk: %v, want a hint that the file system is full", err)
			}
			os.Remove(filler)
			l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: data})
			if err != nil {
				t.Fatalf("open once space is back: %v", err)
			}
			defer l.Close()
			if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "after"}); err != nil {
				t.Fatalf("issue once space is back: %v", err)
			}
		})
	}
}
