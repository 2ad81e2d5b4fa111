// Command soak runs the soak test of the HTTP service: jwtledger serve on a
// fresh data directory, wrk issuing tokens on 64 connections for the
// duration (default 10 minutes), and a sampler reading the server's
// /metrics every second. It prints the per-second throughput series'
// summary (median, minimum, the seconds below 70% of the median), the load
// average during the run, the CPU the hypervisor stole in the dips and in
// the other seconds, and writes the series to soak.csv.
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
	flag.StringVar(&traceDir, "trace", "", "directory for a CPU profile of the run and execution traces (5 s) of the first dips")
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

var traceDir string

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
	args := []string{"serve", "--data-dir", filepath.Join(tmp, "data"), "--addr", addr, "--metrics-addr", maddr, "--log-level", "warn"}
	if traceDir != "" {
		args = append(args, "--pprof")
		os.MkdirAll(traceDir, 0o755)
	}
	serve := exec.Command(bin, args...)
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
		t             time.Time
		issued        int64
		load1         float64
		rssKiB        int64
		serveTicks    int64 // CPU time of serve, clock ticks
		wrkTicks      int64
		busy, total   int64 // machine CPU time, ticks (busy: not idle or iowait)
		steal, iowait int64
	}
	var wrkPid int
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
		s.serveTicks = procTicks(serve.Process.Pid)
		if wrkPid != 0 {
			s.wrkTicks = procTicks(wrkPid)
		}
		s.busy, s.total, s.steal, s.iowait = machineTicks()
		return s, nil
	}
	wrk := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(dur.Seconds()))+"s", "--latency", "-s", lua, "http://"+addr+"/v1/tokens")
	var wrkOut strings.Builder
	wrk.Stdout, wrk.Stderr = &wrkOut, &wrkOut
	fmt.Fprintf(os.Stderr, "soak: %s at %d connections against %s (load average now %s)\n", dur, conns, addr, loadavg())
	if err := wrk.Start(); err != nil {
		return 2, err
	}
	wrkPid = wrk.Process.Pid
	done := make(chan error, 1)
	go func() { done <- wrk.Wait() }()
	var samples []sample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	first, _ := read()
	samples = append(samples, first)
	fetch := func(url, file string) {
		resp, err := http.Get(url)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(traceDir, file))
		if err == nil {
			io.Copy(f, resp.Body)
			f.Close()
		}
	}
	traces := 0
	tracing := false
	traceDone := make(chan struct{}, 1)
	if traceDir != "" {
		go fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", maddr, min(int(dur.Seconds())-5, 600)), "cpu.pprof")
	}
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
			// A live dip check against the median so far, for the traces.
			if n := len(samples); traceDir != "" && !tracing && traces < 3 && n > 20 {
				var rs []float64
				for i := 1; i < n; i++ {
					rs = append(rs, float64(samples[i].issued-samples[i-1].issued))
				}
				last := rs[len(rs)-1]
				slices.Sort(rs)
				if last < 0.7*rs[len(rs)/2] {
					tracing, traces = true, traces+1
					go func(k int) {
						fetch(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=5", maddr), fmt.Sprintf("dip%d-s%d.trace", k, n-1))
						traceDone <- struct{}{}
					}(traces)
				}
			}
		case <-traceDone:
			tracing = false
		}
	}
	// The per-second series, without the partial first and last seconds.
	var rates []float64
	f, err := os.Create(csvPath)
	if err != nil {
		return 2, err
	}
	// CPU shares in % of one CPU: serve, wrk, everything else on the
	// machine (other processes: contention), and steal and iowait.
	fmt.Fprintln(f, "second,issued_per_s,load1,rss_kib,serve_cpu,wrk_cpu,other_cpu,steal,iowait")
	type cpu struct{ serve, wrk, other, steal, iowait float64 }
	var cpus []cpu
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dt := b.t.Sub(a.t).Seconds()
		r := float64(b.issued-a.issued) / dt
		pct := func(ticks int64) float64 { return 100 * float64(ticks) / clkTck / dt }
		c := cpu{serve: pct(b.serveTicks - a.serveTicks), wrk: pct(b.wrkTicks - a.wrkTicks), steal: pct(b.steal - a.steal), iowait: pct(b.iowait - a.iowait)}
		c.other = max(0, pct(b.busy-a.busy)-c.serve-c.wrk)
		fmt.Fprintf(f, "%d,%.0f,%.2f,%d,%.0f,%.0f,%.0f,%.0f,%.0f\n", i, r, b.load1, b.rssKiB, c.serve, c.wrk, c.other, c.steal, c.iowait)
		rates = append(rates, r)
		cpus = append(cpus, c)
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
	if len(cpus) > 2 {
		cpus = cpus[1 : len(cpus)-1]
	}
	var below []string
	var dipOther, restOther, dipServe, restServe float64
	var nDip int
	for i, r := range rates {
		if r < bound*median {
			below = append(below, fmt.Sprintf("s%d=%.0f (%.0f%%, serve %.0f%% cpu, others %.0f%%, steal %.0f%%, iowait %.0f%%)", i+2, r, 100*r/median, cpus[i].serve, cpus[i].other, cpus[i].steal, cpus[i].iowait))
			dipOther, dipServe = dipOther+cpus[i].other, dipServe+cpus[i].serve
			nDip++
		} else {
			restOther, restServe = restOther+cpus[i].other, restServe+cpus[i].serve
		}
	}
	// Steal is CPU time the hypervisor gave to other guests: a dip in a
	// second with much steal is the machine's, not the service's. Split
	// the seconds at stealBound and report both sides.
	const stealBound = 20.0
	var nSteal, dipSteal int
	var dipStealSum, restStealSum float64
	calm := []float64{}
	for i, r := range rates {
		if cpus[i].steal >= stealBound {
			nSteal++
			if r < bound*median {
				dipSteal++
			}
		} else {
			calm = append(calm, r)
		}
		if r < bound*median {
			dipStealSum += cpus[i].steal
		} else {
			restStealSum += cpus[i].steal
		}
	}
	if nDip > 0 {
		fmt.Printf("soak: steal in the dips %.1f%%, in the other seconds %.1f%% (of one CPU); %d of the %d dips are in the %d seconds with steal >= %.0f%%\n",
			dipStealSum/float64(nDip), restStealSum/float64(max(1, len(rates)-nDip)), dipSteal, nDip, nSteal, stealBound)
	}
	if len(calm) > 0 {
		fmt.Printf("soak: the %d seconds with steal < %.0f%%: minimum %.0f%% of the median\n", len(calm), stealBound, 100*slices.Min(calm)/median)
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
	if nDip > 0 && nDip < len(rates) {
		fmt.Printf("soak: CPU in the dips: serve %.0f%%, other processes %.0f%%; in the other seconds: serve %.0f%%, other processes %.0f%% (of one CPU)\n",
			dipServe/float64(nDip), dipOther/float64(nDip), restServe/float64(len(rates)-nDip), restOther/float64(len(rates)-nDip))
	}
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

// clkTck is the kernel's clock tick rate of /proc times (USER_HZ).
const clkTck = 100

// procTicks is the user+system CPU time of process pid in clock ticks.
func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return u + sys
}

// machineTicks reads the machine's CPU times from /proc/stat.
func machineTicks() (busy, total, steal, iowait int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)[1:]
	v := make([]int64, len(f))
	for i := range f {
		v[i], _ = strconv.ParseInt(f[i], 10, 64)
		total += v[i]
	}
	// user nice system idle iowait irq softirq steal ...
	idle := v[3]
	if len(v) > 4 {
		iowait = v[4]
	}
	if len(v) > 7 {
		steal = v[7]
	}
	busy = total - idle - iowait - steal
	return
}
