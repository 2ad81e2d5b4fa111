package shutdown_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/poll"
)

// TestSIGTERMUnderLoad starts the built binary, sends SIGTERM while clients
// are issuing tokens, and checks that every request answered 200 has its
// audit record, and that the server exits 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; this test builds the jwtledger binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "jwtledger")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/jwtledger/jwtledger/cmd/jwtledger").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "JWTLEDGER_DATA_DIR="+filepath.Join(dir, "data"))
	srv := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--log-level", "error")
	srv.Env = env
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill() })
	var secret, addr string
	sc := bufio.NewScanner(stdout)
	for addr == "" && sc.Scan() {
		if m := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			secret = m[1]
		}
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if secret == "" || addr == "" {
		t.Fatal("serve printed no credentials or address")
	}

	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	var mu sync.Mutex
	answered := map[string]bool{} // jti of every 200
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", addr+"/v1/tokens", strings.NewReader(`{"sub":"load"}`))
				req.Header.Set("Authorization", "Bearer "+secret)
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var out struct{ JTI string }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode == 200 && err == nil {
					mu.Lock()
					answered[out.JTI] = true
					mu.Unlock()
				}
			}
		}()
	}
	// SIGTERM once the load is running: tokens are being answered.
	if _, ok := poll.Within(15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answered) >= 50
	}); !ok {
		t.Fatal("no load: fewer than 50 tokens answered in 15 s")
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- srv.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("serve did not exit 0 after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	stop()
	wg.Wait()
	if len(answered) < 50 {
		t.Fatalf("only %d tokens answered before SIGTERM; the test needs load", len(answered))
	}

	q := exec.Command(bin, "audit", "query", "--event", "token.issue", "--output", "json")
	q.Env = env
	out, err := q.Output()
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	var recs []struct{ JTI string }
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, r := range recs {
		recorded[r.JTI] = true
	}
	for jti := range answered {
		if !recorded[jti] {
			t.Errorf("token %s was answered 200 but has no audit record", jti)
		}
	}
	t.Logf("%d tokens answered before and during shutdown, all recorded (%d issue records)", len(answered), len(recs))
	v := exec.Command(bin, "audit", "verify", "--quiet")
	v.Env = env
	if out, err := v.CombinedOutput(); err != nil {
		t.Fatalf("audit verify after shutdown: %v\n%s", err, out)
	}
}
