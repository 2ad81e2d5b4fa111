package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/console"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/server"
)

var serveCmd = &command{
	name:    "serve",
	summary: "run the HTTP service",
	doc: `Runs the HTTP service on the ledger: token, OAuth2 (client_credentials,
introspection, revocation) and JOSE endpoints, the audit and admin API, and
health checks. Works with no configuration: SQLite in the data directory.
On the first start with no clients it creates an "admin" client and prints
its id and secret once.
`,
	notes: `SIGINT or SIGTERM stops accepting connections, finishes the requests in
flight, flushes the audit trail and exits 0.

Unless GOGC or GOMEMLIMIT are set, the Go garbage collector runs with
GOGC=400 and a 96 MiB soft memory limit (the server's live heap is small).
Unless GOMAXPROCS is set, the Go runtime runs one processor more than the
CPUs it may use: the audit commit holds one while it syncs the log.

Example:
  jwtledger serve --addr 127.0.0.1:8080
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials http://127.0.0.1:8080/oauth2/token
`,
	flags: serveFlags,
}

func serveFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	lf.jsonlStdout = true
	addr := fs.String("addr", "127.0.0.1:8080", "listen address `HOST:PORT`")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with the certificate (chain) in `FILE`")
	tlsKey := fs.String("tls-key", "", "the private key of --tls-cert, in `FILE`")
	logFormat := fs.String("log-format", "text", "operational log format on stderr, `text|json`")
	logLevel := fs.String("log-level", "info", "`LEVEL`: debug, info, warn or error")
	logSlow := fs.Duration("log-slow", server.DefaultSlowRequest, "log requests taking `D` or longer at warn level; faster successful ones only at --log-level debug, refused ones at info")
	retain := fs.String("retain", "", "prune audit record bodies older than `D` (400d)")
	rotateEvery := fs.Duration("rotate-every", 0, "rotate the signing key when it is `D` old (720h); the next key is in the JWKS --prepublish before it signs")
	prePublish := fs.Duration("prepublish", defaults.PrePublish, "how long `D` the next key of --rotate-every is published before it signs")
	maxTTL := fs.Duration("max-ttl", 0, "longest token lifetime `D` anyone may ask for; lets rotated keys be retired once their tokens expired")
	maxConns := fs.Int("max-conns", server.DefaultMaxConns, "`N` connections open at once; beyond it a connection is answered 503 and closed")
	idleTimeout := fs.Duration("idle-timeout", 30*time.Second, "close keep-alive connections idle `D` long")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics on `HOST:PORT` instead of --addr")
	metricsClientLabels := fs.Bool("metrics-client-labels", false, "label metric series with client ids (off: they name customers, and /metrics needs no credentials)")
	pprofOn := fs.Bool("pprof", false, "also serve Go's /debug/pprof/ on --metrics-addr (profiles and execution traces; keep that address private)")
	denialRate := fs.Float64("denial-rate", defaults.DenialTotal, "auth.denied records per second `R` for all refused callers together")
	denialBurst := fs.Int("denial-burst", defaults.DenialTotalBurst, "the bucket `N` of --denial-rate")
	denialSourceRate := fs.Float64("denial-source-rate", defaults.DenialPerSource, "auth.denied records per second `R` per source address and client id; denials beyond are counted in one auth.denied.suppressed record per 10 s")
	denialSourceBurst := fs.Int("denial-source-burst", defaults.DenialPerSourceBurst, "the bucket `N` of --denial-source-rate")
	allowHMAC := fs.Bool("allow-hmac-signing", false, "let an HMAC key be the active signing key (no JWKS consumer can verify its tokens)")
	allowDamaged := fs.Bool("allow-damaged", false, "start on a database SQLite reports damaged, read-only, for inspection")
	withConsole := fs.Bool("console", true, "serve the web console at --console-prefix, GET / redirecting there (--console=false: not)")
	consolePrefix := fs.String("console-prefix", "/console", "URL `PATH` of the console; behind a reverse proxy, forward that path unchanged")
	var witnesses witnessFlag
	fs.Var(&witnesses, "witness", "send every checkpoint to a C2SP tlog-witness and keep its cosignatures: `NAME=VKEY@URL` with the witness's cosignature/v1 verifier key and submission URL (repeatable; several separated by spaces in one value)")
	witnessQuorum := fs.Int("witness-quorum", 0, "a checkpoint is witnessed once `N` of the --witness witnesses cosigned it (0: all)")
	fs.String("config", "", "TOML `FILE` of these settings, keys named like the flags (see jwtledger.example.toml); precedence: flag > JWTLEDGER_* environment > file > default; unknown keys are an error")
	return func(ctx context.Context, c *cli, pos []string) error {
		var err error
		if len(pos) > 0 {
			return usageErr("serve: unexpected argument %q", pos[0])
		}
		if (*tlsCert == "") != (*tlsKey == "") {
			return usageErr("serve: --tls-cert and --tls-key go together")
		}
		rawSync := tuneRuntime()
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return usageErr("serve: --log-level: %v", err)
		}
		if *logSlow <= 0 {
			return usageErr("serve: --log-slow must be a positive duration")
		}
		if *logFormat != "text" && *logFormat != "json" {
			return usageErr("serve: --log-format must be text or json")
		}
		logOut := newLogBuffer(c.stderr)
		defer logOut.Close()
		var h slog.Handler
		if *logFormat == "text" {
			h = slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})
		} else {
			h = slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level})
		}
		log := slog.New(h)
		var retainFor time.Duration
		if *retain != "" {
			if retainFor, err = parseRetention(*retain); err != nil {
				return usageErr("serve: --retain: %v", err)
			}
		}
		var tlsCfg *tls.Config
		if *tlsCert != "" {
			// Load the pair before listening: a bad file is an error at once,
			// not after "listening on".
			cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
			if err != nil {
				return withHint(usageErr("serve: --tls-cert/--tls-key: %v", err), "give a PEM certificate (chain) and its private key")
			}
			tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		if lf.issuer != "" {
			if err := server.CheckIssuer(lf.issuer); err != nil {
				return withHint(usageErr("serve: --issuer: %v", err), "the issuer of serve is the URL clients reach it at, such as https://auth.example.com")
			}
		}
		if *rotateEvery < 0 || *prePublish <= 0 || *maxTTL < 0 {
			return usageErr("serve: --rotate-every and --max-ttl must not be negative, --prepublish must be positive")
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return withHint(usageErr("serve: %v", err), "choose another --addr (JWTLEDGER_ADDR)")
		}
		scheme := "http"
		if tlsCfg != nil {
			scheme = "https"
		}
		issuer := lf.issuer
		if issuer == "" {
			issuer = selfURL(scheme, ln.Addr())
		}
		if *maxConns < 1 || *idleTimeout <= 0 || *denialRate <= 0 || *denialBurst < 1 || *denialSourceRate <= 0 || *denialSourceBurst < 1 {
			ln.Close()
			return usageErr("serve: --max-conns, --idle-timeout and the --denial-* limits must be positive")
		}
		if *witnessQuorum < 0 || *witnessQuorum > len(witnesses) {
			ln.Close()
			return usageErr("serve: --witness-quorum %d: want 0 (all) to the %d --witness given", *witnessQuorum, len(witnesses))
		}
		if *pprofOn && *metricsAddr == "" {
			ln.Close()
			return usageErr("serve: --pprof needs --metrics-addr (profiles are never served on the API address)")
		}
		var mln net.Listener
		if *metricsAddr != "" {
			if mln, err = net.Listen("tcp", *metricsAddr); err != nil {
				ln.Close()
				return withHint(usageErr("serve: --metrics-addr: %v", err), "choose another --metrics-addr (JWTLEDGER_METRICS_ADDR)")
			}
			defer mln.Close()
		}
		l, err := c.openWith(ctx, lf, func(cfg *jwtledger.Config) {
			cfg.Logger, cfg.Retain = log, retainFor
			cfg.RotateEvery, cfg.PrePublish, cfg.MaxTTL = *rotateEvery, *prePublish, *maxTTL
			cfg.Issuer = issuer
			cfg.DenialLimit = jwtledger.DenialLimit{Total: *denialRate, TotalBurst: *denialBurst, PerSource: *denialSourceRate, PerSourceBurst: *denialSourceBurst}
			cfg.RefuseHMACSigning, cfg.AllowDamaged, cfg.CheckIntegrity = !*allowHMAC, *allowDamaged, true
			cfg.OpenStore = serveStore(cfg.Store, rawSync)
			cfg.Witnesses, cfg.WitnessQuorum = witnesses, *witnessQuorum
		})
		if err != nil {
			ln.Close()
			return err
		}
		defer l.Close()
		if err := ensureAdmin(ctx, c, l); err != nil {
			ln.Close()
			return err
		}
		scfg := server.Config{Ledger: l, Logger: log, SlowRequest: *logSlow, MetricsClientLabels: *metricsClientLabels, NoMetrics: mln != nil}
		var cons *console.Console
		if *withConsole {
			cons, err = console.New(console.Config{Backend: console.FromLedger(l), Prefix: *consolePrefix, Logger: log,
				RotateEvery: *rotateEvery, PrePublish: *prePublish})
			if err != nil {
				ln.Close()
				return usageErr("serve: --console-prefix: %v", err)
			}
			scfg.Console, scfg.ConsolePrefix = cons, cons.Prefix()
		}
		api := server.New(scfg)
		srv := &http.Server{
			Handler:           api.Handler(),
			TLSConfig:         tlsCfg,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       *idleTimeout,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(h, slog.LevelWarn),
		}
		fmt.Fprintf(c.stdout, "jwtledger: listening on %s://%s (issuer %s, data dir %s)\n", scheme, ln.Addr(), issuer, l.DataDir())
		if cons != nil {
			// Live tails hold their connections open: end them at shutdown.
			srv.RegisterOnShutdown(cons.Close)
			go func() {
				if err := cons.Warm(ctx); err != nil {
					log.Warn("console: counting audit records failed", "err", err)
				}
			}()
			fmt.Fprintf(c.stdout, "jwtledger: web console on %s://%s%s/\n", scheme, ln.Addr(), cons.Prefix())
		}
		limited := api.LimitListener(ln, *maxConns)
		errc := make(chan error, 1)
		go func() {
			if tlsCfg != nil {
				errc <- srv.ServeTLS(limited, "", "")
			} else {
				errc <- srv.Serve(limited)
			}
		}()
		var msrv *http.Server
		if mln != nil {
			var mh http.Handler = api.MetricsHandler()
			if *pprofOn {
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", mh)
				mux.HandleFunc("/debug/pprof/", pprof.Index)
				mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
				mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
				mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
				mh = mux
			}
			msrv = &http.Server{Handler: mh, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 120 * time.Second, IdleTimeout: *idleTimeout, ErrorLog: slog.NewLogLogger(h, slog.LevelWarn)}
			fmt.Fprintf(c.stdout, "jwtledger: metrics on http://%s/metrics\n", mln.Addr())
			go msrv.Serve(mln)
		}
		stopIdle := make(chan struct{})
		defer close(stopIdle)
		go releaseWhenIdle(l, stopIdle)
		go watchReady(l, stopIdle)
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
		}
		log.Info("shutting down")
		// A fresh context: the signal one is already cancelled.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Warn("shutdown", "err", err)
		}
		if msrv != nil {
			msrv.Shutdown(shutdownCtx)
		}
		if cons != nil {
			cons.Close()
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		if err := l.Close(); err != nil {
			return fmt.Errorf("close ledger: %w", err)
		}
		log.Info("stopped")
		return nil

	}
}

// selfURL is the default issuer of serve: its own base URL. A wildcard
// listen address (":8080", "0.0.0.0:8080") is named "localhost", which only
// local clients reach: set --issuer to the public URL in that case.
func selfURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// ensureAdmin creates the admin client on the first start of an empty store
// and prints its credentials once.
func ensureAdmin(ctx context.Context, c *cli, l *jwtledger.Ledger) error {
	cs, err := l.Clients(ctx)
	if err != nil || len(cs) > 0 {
		return err
	}
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "admin", Scopes: []string{clientauth.ScopeAdmin}, Policy: jwtledger.ClientPolicy{Claims: []string{clientauth.AnyClaim}}}, jwtledger.Meta{Actor: "jwtledger"})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "jwtledger: created the admin client; store its secret now, it is not shown again:\n  client_id:     %s\n  client_secret: %s\n", creds.ID, creds.Secret)
	return nil
}

// Garbage-collector settings of serve when the environment sets none: the
// live heap of the server is a few MiB, so the default GOGC=100 collects
// very often under load (measured: 5% of the CPU, and 0.61 instead of 0.70
// of the baseline's issue throughput). A higher target with a soft memory
// limit keeps collections rare while bounding the heap.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 96 << 20
)

// idleCheck is how often serve looks for the end of a burst of load.
const idleCheck = 5 * time.Second

// releaseWhenIdle returns the heap a burst of load grew to the operating
// system once the ledger has recorded nothing for idleCheck, so the resident
// size falls back near its idle size after the load instead of slowly (the
// runtime's scavenger alone takes minutes).
func releaseWhenIdle(l *jwtledger.Ledger, stop <-chan struct{}) {
	t := time.NewTicker(idleCheck)
	defer t.Stop()
	var last uint64
	released := true
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st, _ := l.Trail().Stats()
		switch {
		case st.Records != last:
			last, released = st.Records, false
		case !released:
			debug.FreeOSMemory()
			released = true
		}
	}
}

// watchReady probes the ledger's store every second (see Ledger.Ready), so
// that a database file deleted or replaced under an idle server is noticed
// (and logged) within a second, not at the next request.
func watchReady(l *jwtledger.Ledger, stop <-chan struct{}) {
	t := time.NewTicker(defaults.ReadyInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		l.Ready(ctx)
		cancel()
	}
}

// tuneRuntime sets the runtime up for serving and reports whether the
// embedded store may sync its log with a raw system call.
func tuneRuntime() (rawSync bool) {
	if os.Getenv("GOMAXPROCS") == "" {
		// The embedded store syncs its log with a system call that keeps
		// the committing goroutine's processor (see the sqlite package's
		// walSync); one processor more keeps every CPU busy meanwhile.
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
		rawSync = true
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	return rawSync
}
