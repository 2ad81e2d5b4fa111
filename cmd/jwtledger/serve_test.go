package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServe starts `jwtledger serve` on a free port with no configuration,
// reads the admin credentials and the address it prints, calls it, and
// stops it as SIGTERM would (context cancellation), expecting exit 0.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "JWTLEDGER_DATA_DIR" {
			return dir
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, strings.NewReader(""), pw, io.Discard, getenv)
		pw.Close()
	}()
	var secret, addr string
	sc := bufio.NewScanner(pr)
	for addr == "" && sc.Scan() {
		line := sc.Text()
		if m := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(line); m != nil {
			secret = m[1]
		}
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if secret == "" || addr == "" {
		t.Fatalf("serve printed no credentials or address")
	}
	req, _ := http.NewRequest("POST", addr+"/v1/tokens", strings.NewReader(`{"sub":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("issue over HTTP: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after shutdown", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
