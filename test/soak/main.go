// Command soak runs the soak test of the HTTP service: jwtledger serve on a
// fresh data directory, wrk issuing tokens on 64 connections for the
// duration (default 10 minutes), and a sampler reading the server's
// /metrics every second. It prints the per-second throughput series'
// summary (median, minimum, the seconds below 70% of the median), the load
// average during the run, and writes the series to soak.csv.
//
//	go run ./test/soak                  # 10 minutes, 64 connections
//	go run ./test/soak -d 60s -c 64     # a shorter run
//
// It needs wrk (Debian: apt-get install wrk). It exits 1 when a second fell
// below 70% of the median (the acceptance bound), 2 when it could not run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	dur := flag.Duration("d", 10*time.Minute, "duration of the load")
	conns := flag.Int("c", 64, "connections")
	threads := flag.Int("t", 2, "wrk threads")
	out := flag.String("csv", "soak.csv", "file for the per-second series")
	bound := flag.Float64("bound", 0.70, "fail when a second is below this fraction of the median")
	keep := flag.Bool("keep", false, "keep the data directory")
	flag.Parse()
	code, err := run(*dur, *conns, *threads, *out, *bound, *keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
	}
	os.Exit(code)
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var issued = regexp.MustCompile(`(?m)^jwtledger_http_requests_total\{route="POST /v1/tokens",status="200"\} (\d+)$`)

func run(dur time.Duration, conns, threads int, csvPath string, bound float64, keep bool) (int, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return 2, fmt.Errorf("wrk not found (apt-get install wrk)")
	}
	tmp, err := os.MkdirTemp("", "jwtledger-soak-")
	if err != nil {
		return 2, err
	}
	if !keep {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "jwtledger")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/jwtledger").CombinedOutput(); err != nil {
		return 2, fmt.Errorf("build: %v\n%s", err, out)
	}
	addr, maddr := freePort(), freePort()
	serve := exec.Command(bin, "serve", "--data-dir", filepath.Join(tmp, "data"), "--addr", addr, "--metrics-addr", maddr, "--log-level", "warn")
	serve.Env = append(os.Environ(), "HOME="+tmp, "XDG_DATA_HOME=")
	stdout, _ := serve.StdoutPipe()
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		return 2, err
	}
	defer func() { serve.Process.Signal(os.Interrupt); serve.Wait() }()
	secret := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "client_secret:"); ok {
			secret = strings.TrimSpace(v)
		}
		if strings.Contains(line, "listening on") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if secret == "" {
		return 2, fmt.Errorf("serve printed no admin secret")
	}
	lua := filepath.Join(tmp, "issue.lua")
	os.WriteFile(lua, []byte(`wrk.method = "POST"
wrk.body = '{"sub":"soak","aud":"api","ttl":"15m"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer `+secret+`"
`), 0o600)

	type sample struct {
		t       time.Time
		issued  int64
		load1   float64
		rssKiB  int64
		records int64
	}
	read := func() (sample, error) {
		s := sample{t: time.Now()}
		resp, err := http.Get("http://" + maddr + "/metrics")
		if err != nil {
			return s, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := issued.FindSubmatch(b); m != nil {
			s.issued, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		if la, err := os.ReadFile("/proc/loadavg"); err == nil {
			s.load1, _ = strconv.ParseFloat(strings.Fields(string(la))[0], 64)
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", serve.Process.Pid)); err == nil {
			for _, l := range strings.Split(string(st), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					s.rssKiB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				}
			}
		}
		return s, nil
	}
	wrk := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(dur.Seconds()))+"s", "--latency", "-s", lua, "http://"+addr+"/v1/tokens")
	var wrkOut strings.Builder
	wrk.Stdout, wrk.Stderr = &wrkOut, &wrkOut
	fmt.Fprintf(os.Stderr, "soak: %s at %d connections against %s (load average now %s)\n", dur, conns, addr, loadavg())
	if err := wrk.Start(); err != nil {
		return 2, err
	}
	done := make(chan error, 1)
	go func() { done <- wrk.Wait() }()
	var samples []sample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	first, _ := read()
	samples = append(samples, first)
loop:
	for {
		select {
		case err := <-done:
			if err != nil {
				return 2, fmt.Errorf("wrk: %v\n%s", err, wrkOut.String())
			}
			break loop
		case <-tick.C:
			if s, err := read(); err == nil {
				samples = append(samples, s)
			}
		}
	}
	// The per-second series, without the partial first and last seconds.
	var rates []float64
	f, err := os.Create(csvPath)
	if err != nil {
		return 2, err
	}
	fmt.Fprintln(f, "second,issued_per_s,load1,rss_kib")
	for i := 1; i < len(samples); i++ {
		dt := samples[i].t.Sub(samples[i-1].t).Seconds()
		r := float64(samples[i].issued-samples[i-1].issued) / dt
		fmt.Fprintf(f, "%d,%.0f,%.2f,%d\n", i, r, samples[i].load1, samples[i].rssKiB)
		rates = append(rates, r)
	}
	f.Close()
	if len(rates) > 2 {
		rates = rates[1 : len(rates)-1]
	}
	if len(rates) == 0 {
		return 2, fmt.Errorf("no samples")
	}
	sorted := slices.Clone(rates)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	var below []string
	for i, r := range rates {
		if r < bound*median {
			below = append(below, fmt.Sprintf("s%d=%.0f (%.0f%%)", i+2, r, 100*r/median))
		}
	}
	var loadSum, loadMax float64
	var rssMax int64
	for _, s := range samples {
		loadSum += s.load1
		loadMax = max(loadMax, s.load1)
		rssMax = max(rssMax, s.rssKiB)
	}
	fmt.Printf("soak: %d seconds, issued/s median %.0f, min %.0f (%.0f%% of median), p1 %.0f, p5 %.0f, max %.0f\n",
		len(rates), median, sorted[0], 100*sorted[0]/median, sorted[len(sorted)/100], sorted[len(sorted)/20], sorted[len(sorted)-1])
	fmt.Printf("soak: seconds below %.0f%% of the median: %d %v\n", 100*bound, len(below), below)
	fmt.Printf("soak: load average (1 min) during the run: mean %.2f, max %.2f; serve RSS max %d MiB\n", loadSum/float64(len(samples)), loadMax, rssMax/1024)
	fmt.Printf("soak: series in %s; wrk says:\n%s", csvPath, wrkOut.String())
	if len(below) > 0 {
		return 1, nil
	}
	return 0, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}
