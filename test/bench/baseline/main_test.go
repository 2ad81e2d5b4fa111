package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "help", args: []string{"-h"}, code: 0, want: "-mode"},
		{name: "unknown flag", args: []string{"--bogus"}, code: 2, want: "bogus"},
		{name: "argument", args: []string{"x"}, code: 2, want: `unexpected argument "x"`},
		{name: "mode", args: []string{"--mode", "B", "--addr", "127.0.0.1:0"}, code: 1, want: `--mode: unknown mode "B"`},
		{name: "alg", args: []string{"--alg", "RS256", "--addr", "127.0.0.1:0"}, code: 1, want: `unsupported algorithm "RS256"`},
		{name: "addr", args: []string{"--addr", "127.0.0.1:bad"}, code: 1, want: "listen:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}

// TestServe starts the command, issues a token with the printed secret,
// stops it with its context and checks the temporary directory is gone.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--mode", "D"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var out strings.Builder
	for range 2 {
		if !sc.Scan() {
			t.Fatalf("output ended: %q", out.String())
		}
		out.WriteString(sc.Text() + "\n")
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`listening on (http://\S+) \(mode D, ES256, dir (\S+)\)\n  client_secret: (\S+)\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output %q", out.String())
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", m[1]+"/v1/tokens", strings.NewReader(`{"sub":"x"}`))
	req.Header.Set("Authorization", "Bearer "+m[3])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("issue: %s", resp.Status)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after the context ended, want 0", code)
	}
	if _, err := os.Stat(m[2]); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s left behind (%v)", m[2], err)
	}
}
