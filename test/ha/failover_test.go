// Package ha tests jwtledger on PostgreSQL with a synchronous streaming
// standby: the primary is killed under load and the standby promoted.
package ha_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/store/pgtest"
)

// answer is one issuance request's outcome, as its caller saw it.
type answer struct {
	node       int
	start, end time.Time
	status     int // 0: no HTTP answer (transport error, timeout)
	jti, token string
}

// node is one running `jwtledger serve`.
type node struct {
	cmd  *exec.Cmd
	addr string
}

// TestFailoverToSynchronousStandby runs two serve nodes on a primary with a
// synchronous standby, connected with a multi-host DSN
// (target_session_attrs=read-write). Under issuance load it kills the
// primary with SIGKILL and promotes the standby: the nodes must answer 503
// (never 200 without a durable record) during the switch and 200 again
// without a restart; every token answered 200 must have exactly one
// issuance record in the promoted database, and every chain must verify.
func TestFailoverToSynchronousStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers and two serve processes")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH; this test builds the jwtledger binary")
		}
		t.Skip("the go command is not on PATH; this test builds the jwtledger binary")
	}
	rep := pgtest.StartReplicated(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "jwtledger")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/jwtledger/jwtledger/cmd/jwtledger").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// Both servers in the DSN; pgx tries them in order and keeps the one
	// that accepts writes. connect_timeout bounds a try at a dead host.
	dsn := fmt.Sprintf("postgres://postgres@%s,%s/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		rep.Primary.Addr(), rep.Standby.Addr())
	master := make([]byte, 32)
	rand.Read(master)
	env := append(os.Environ(), "JWTLEDGER_MASTER_KEY="+base64.StdEncoding.EncodeToString(master), "JWTLEDGER_STORE="+dsn)

	var secret string
	nodes := make([]*node, 2)
	for i := range nodes {
		n, s := startNode(t, bin, env, filepath.Join(dir, fmt.Sprintf("node-%d", i)), fmt.Sprintf("node-%c", 'a'+i))
		nodes[i] = n
		if s != "" {
			secret = s
		}
	}
	if secret == "" {
		t.Fatal("no node printed the admin client's secret")
	}

	// The load: workers on each node, issuing until stopped.
	// stopLoad lets every request in flight finish (its answer counted) and
	// starts no new one.
	var stopping atomic.Bool
	stopLoad := func() { stopping.Store(true) }
	defer stopLoad()
	var mu sync.Mutex
	var answers []answer
	since := func(ti time.Time, cond func(answer) bool) int { // answers that started after ti
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, a := range answers {
			if !a.start.Before(ti) && cond(a) {
				c++
			}
		}
		return c
	}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for i, n := range nodes {
		for range 6 {
			wg.Go(func() {
				for !stopping.Load() {
					a := answer{node: i, start: time.Now()}
					req, _ := http.NewRequest("POST", n.addr+"/v1/tokens", strings.NewReader(`{"sub":"ha"}`))
					req.Header.Set("Authorization", "Bearer "+secret)
					resp, err := client.Do(req)
					if err == nil {
						var out struct{ JTI, Token string }
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						a.status = resp.StatusCode
						if resp.StatusCode == 200 {
							if json.Unmarshal(b, &out) != nil || out.JTI == "" {
								a.status = -1 // a 200 without a token
							}
							a.jti, a.token = out.JTI, out.Token
						}
					}
					a.end = time.Now()
					mu.Lock()
					answers = append(answers, a)
					mu.Unlock()
				}
			})
		}
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				stopLoad()
				wg.Wait()
				t.Fatalf("%s: not within %v", what, d)
			}
			time.Sleep(10 * time.Millisecond) // polling with a deadline
		}
	}
	ok := func(node int) func(answer) bool {
		return func(a answer) bool { return a.node == node && a.status == 200 }
	}
	notOK := func(node int) func(answer) bool {
		return func(a answer) bool { return a.node == node && a.status != 200 }
	}
	t0 := time.Now()
	waitFor("200s from both nodes before the failover", 30*time.Second, func() bool {
		return since(t0, ok(0)) >= 200 && since(t0, ok(1)) >= 200
	})

	killAt := time.Now()
	rep.Primary.Kill()
	killed := time.Now()
	// Both nodes must notice: each answers 503 to requests made after the
	// kill (50 of them, so the outage lasts a while) and /readyz says so.
	waitFor("both nodes failing closed after the kill", 20*time.Second, func() bool {
		return since(killed, notOK(0)) >= 50 && since(killed, notOK(1)) >= 50
	})
	waitFor("/readyz 503 on both nodes", 10*time.Second, func() bool {
		return ready(nodes[0]) == 503 && ready(nodes[1]) == 503
	})
	promoteAt := time.Now()
	rep.Standby.Promote()
	promoted := time.Now()
	waitFor("both nodes answering 200 again after the promotion", 60*time.Second, func() bool {
		return since(promoted, ok(0)) >= 100 && since(promoted, ok(1)) >= 100
	})
	waitFor("/readyz 200 on both nodes", 10*time.Second, func() bool {
		return ready(nodes[0]) == 200 && ready(nodes[1]) == 200
	})
	// A token node a issued before the kill verifies on node b after the
	// promotion: the keys came through, and so does the verdict's record.
	var before string
	mu.Lock()
	for _, a := range answers {
		if a.node == 0 && a.status == 200 && a.end.Before(killAt) {
			before = a.token
			break
		}
	}
	mu.Unlock()
	if v := verify(t, nodes[1], secret, before); v != "valid" {
		t.Errorf("a token issued on node a before the failover: node b's verdict after it is %q, want valid", v)
	}
	stopLoad()
	wg.Wait()
	for _, n := range nodes {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		waitExit(t, n)
	}

	// What the callers saw.
	acked := map[string]int{}
	statuses := map[int]int{}
	firstOK := [2]time.Time{}
	window := [2][2]time.Time{} // first and last non-200 answer after the kill, per node
	for _, a := range answers {
		if a.status == 200 {
			acked[a.jti]++
			if acked[a.jti] > 1 {
				t.Errorf("jti %s answered twice", a.jti)
			}
		}
		if a.end.After(killAt) {
			statuses[a.status]++
			switch a.status {
			case 200, 503:
			case 0:
				// no answer: the client gave up; not an acknowledgement
			default:
				t.Errorf("node %d answered %d during the failover", a.node, a.status)
			}
		}
		if a.status == 200 && a.start.After(killed) && a.end.Before(promoteAt) {
			t.Errorf("node %d answered 200 to a request made after the primary was killed and before the standby was promoted", a.node)
		}
		if a.status == 200 && a.end.After(promoted) && (firstOK[a.node].IsZero() || a.end.Before(firstOK[a.node])) && !a.start.Before(promoteAt) {
			firstOK[a.node] = a.end
		}
		if a.status != 200 && a.end.After(killAt) {
			w := &window[a.node]
			if w[0].IsZero() || a.end.Before(w[0]) {
				w[0] = a.end
			}
			if a.end.After(w[1]) {
				w[1] = a.end
			}
		}
	}

	// What the promoted database holds.
	standby := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", rep.Standby.Addr())
	cliEnv := append(os.Environ(), "JWTLEDGER_MASTER_KEY="+base64.StdEncoding.EncodeToString(master), "JWTLEDGER_STORE="+standby,
		"JWTLEDGER_DATA_DIR="+filepath.Join(dir, "cli"))
	q := exec.Command(bin, "audit", "query", "--event", "token.issue", "--output", "json")
	q.Env = cliEnv
	out, err := q.Output()
	if err != nil {
		t.Fatalf("audit query on the promoted standby: %v", err)
	}
	var recs []struct {
		JTI, Chain string
		Seq        uint64
	}
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatal(err)
	}
	recorded := map[string]int{}
	for _, r := range recs {
		recorded[r.JTI]++
	}
	lost, dup := 0, 0
	for jti := range acked {
		switch recorded[jti] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	for jti, c := range recorded {
		if c > 1 && acked[jti] == 0 {
			dup++
		}
	}
	if lost > 0 || dup > 0 {
		t.Errorf("%d tokens answered 200 have no issuance record in the promoted database, %d jti have more than one", lost, dup)
	}
	u := exec.Command(bin, "audit", "query", "--event", "audit.undelivered", "--output", "json")
	u.Env = cliEnv
	out, err = u.Output()
	if err != nil {
		t.Fatalf("audit query on the promoted standby: %v", err)
	}
	var undelivered []struct{ Chain, Reason string }
	if err := json.Unmarshal(out, &undelivered); err != nil {
		t.Fatal(err)
	}
	// A record of a token that was not answered 200 is a batch whose
	// commit the node could not confirm (its callers got 503): an
	// audit.undelivered record must name it, unless its caller got no
	// answer at all (the client's timeout).
	named := func(chain string, seq uint64) bool {
		for _, u := range undelivered {
			m := regexp.MustCompile(`^undelivered seq (\d+)\.\.(\d+):`).FindStringSubmatch(u.Reason)
			if m == nil || u.Chain != chain {
				continue
			}
			first, _ := strconv.ParseUint(m[1], 10, 64)
			last, _ := strconv.ParseUint(m[2], 10, 64)
			if first <= seq && seq <= last {
				return true
			}
		}
		return false
	}
	unacked, unnamed := 0, 0
	for _, r := range recs {
		if acked[r.JTI] == 0 {
			unacked++
			if !named(r.Chain, r.Seq) {
				unnamed++
			}
		}
	}
	if unnamed > statuses[0] {
		t.Errorf("%d issuance records of tokens not answered 200 are named by no audit.undelivered record, and only %d requests got no answer", unnamed, statuses[0])
	}
	v := exec.Command(bin, "audit", "verify")
	v.Env = cliEnv
	if out, err := v.CombinedOutput(); err != nil {
		t.Errorf("audit verify on the promoted standby: %v\n%s", err, out)
	} else {
		t.Logf("audit verify: %s", strings.TrimSpace(string(out)))
	}

	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var cs []string
	for _, c := range codes {
		cs = append(cs, fmt.Sprintf("%d: %d", c, statuses[c]))
	}
	t.Logf("kill -9 of the primary took %v; pg_ctl promote %v after the kill, took %v",
		killed.Sub(killAt).Round(time.Millisecond), promoteAt.Sub(killAt).Round(time.Millisecond), promoted.Sub(promoteAt).Round(time.Millisecond))
	for i := range nodes {
		t.Logf("node %d: first 200 %v after pg_ctl promote returned (%v after it started); answers other than 200 from %v to %v after the kill",
			i, firstOK[i].Sub(promoted).Round(time.Millisecond), firstOK[i].Sub(promoteAt).Round(time.Millisecond),
			window[i][0].Sub(killAt).Round(time.Millisecond), window[i][1].Sub(killAt).Round(time.Millisecond))
	}
	t.Logf("answers ending after the kill by status (0 = no answer): %s", strings.Join(cs, ", "))
	t.Logf("%d tokens answered 200, %d issuance records in the promoted database: %d lost, %d duplicated; %d records of tokens not answered, %d of them named by the %d audit.undelivered records",
		len(acked), len(recs), lost, dup, unacked, unacked-unnamed, len(undelivered))
}

// startNode starts `jwtledger serve` on 127.0.0.1 and returns it with the
// admin client's secret if this node created the client.
func startNode(t *testing.T, bin string, env []string, dataDir, id string) (*node, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--node-id", id, "--issuer", "https://jwtledger.test", "--log-level", "error")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &syncWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", id, cmd.Stderr.(*syncWriter).String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var secret, addr string
	timeout := time.After(30 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s exited before listening: %s", id, cmd.Stderr.(*syncWriter).String())
			}
			if m := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(l); m != nil {
				secret = m[1]
			}
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-timeout:
			t.Fatalf("%s did not listen within 30 s", id)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return &node{cmd: cmd, addr: addr}, secret
}

// verify asks node n for its verdict on tok and returns the outcome.
func verify(t *testing.T, n *node, secret, tok string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"token": tok})
	req, _ := http.NewRequest("POST", n.addr+"/v1/tokens/verify", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Outcome string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &v) != nil {
		t.Fatalf("verify on node b: %d %s", resp.StatusCode, b)
	}
	return v.Outcome
}

// ready is the status of the node's /readyz (0 without an answer).
func ready(n *node) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(n.addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitExit(t *testing.T, n *node) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve did not exit 0 after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop within 30 s of SIGTERM")
		n.cmd.Process.Kill()
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
