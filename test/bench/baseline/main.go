// Command baseline serves the A or D baseline of internal/baseline over
// HTTP, for load tools such as wrk (see test/bench/wrk.sh):
//
//	go run ./test/bench/baseline --addr 127.0.0.1:8090 --mode D --alg ES256
//
// It prints the listen address and the client secret to present as a
// Bearer token, and serves POST /v1/tokens and POST /v1/tokens/verify until
// SIGINT or SIGTERM. Without --dir its files go to a temporary directory
// removed at exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jwtledger/jwtledger/internal/baseline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	mode := fs.String("mode", "A", "A (log line, no sync) or D (log line and a SQLite group commit before every answer)")
	alg := fs.String("alg", "ES256", "signing algorithm: ES256 or HS256")
	dir := fs.String("dir", "", "directory of the log file and the database (default: a temporary one, removed at exit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := serve(ctx, *addr, *mode, *alg, *dir, stdout); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, addr, modeName, alg, dir string, stdout io.Writer) error {
	mode, err := baseline.ParseMode(modeName)
	if err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "baseline-"); err != nil {
			return fmt.Errorf("temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	svc, err := baseline.New(baseline.Config{Mode: mode, Alg: alg, Dir: dir})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		svc.Close()
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           svc.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	fmt.Fprintf(stdout, "baseline: listening on http://%s (mode %s, %s, dir %s)\n  client_secret: %s\n", ln.Addr(), mode, alg, dir, svc.Secret())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		svc.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// A fresh context: the signal's is already cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	return errors.Join(err, svc.Close())
}
