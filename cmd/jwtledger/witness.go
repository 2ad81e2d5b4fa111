package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/witness"
)

var witnessCmd = &command{
	name:    "witness",
	summary: "run a transparency-log witness (C2SP tlog-witness) for ledgers",
	doc: `A witness checks that every new checkpoint of a log extends the last one it
cosigned (a consistency proof), records the new size and root hash on disk,
and only then cosigns it. It never cosigns two inconsistent checkpoints of
one log, nor a smaller tree after a larger one, across restarts. It speaks
C2SP tlog-witness and cosignature/v1, so it can witness any log that does,
and any such witness can witness a jwtledger ledger.

The witness keeps its key and state in DATA_DIR/witness; the key is sealed
under JWTLEDGER_MASTER_KEY or DATA_DIR/master.key, as the ledger's keys are.
`,
	notes: `SIGINT or SIGTERM stops accepting requests, finishes those in flight and
exits 0.

A ledger node's checkpoint origin is jwtledger/NODE-ID (the node-id file in
its data directory) and its verifier key is what 'jwtledger audit key'
prints there.

Examples:
  jwtledger witness key --name witness.example/w1
  jwtledger witness serve --name witness.example/w1 \\
      --log "jwtledger/$(cat ~/.local/share/jwtledger/node-id)=$(jwtledger audit key)"
  curl -s http://127.0.0.1:7380/
`,
	subs: []*command{
		{name: "serve", summary: "Serve POST /add-checkpoint (and GET / with the verifier key and the state of each log) for the logs given.", flags: witnessServeFlags},
		{name: "key", summary: "Print the witness verifier key (name+hash+base64), the line to give to auditors' policies and to ledgers; the key is created on first use.", flags: witnessKeyFlags},
	},
}

// witnessIDFlags are the flags of both witness subcommands: where the
// witness key is, and its name.
func witnessIDFlags(fs *flag.FlagSet) (dataDir, name *string) {
	dataDir = fs.String("data-dir", "", "the witness keeps its key and state in `DIR`/witness (default $XDG_DATA_HOME/jwtledger)")
	name = fs.String("name", "", "the witness's `NAME` in its cosignatures, a schema-less URL such as witness.example/w1 (default on creation: jwtledger-witness-XXXXXXXX; fixed once the key exists)")
	return dataDir, name
}

func witnessKeyFlags(fs *flag.FlagSet) runFunc {
	dataDir, name := witnessIDFlags(fs)
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("witness key: unexpected argument %q", pos[0])
		}
		s, _, err := c.witnessKey(*dataDir, *name)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, s.Verifier().String())
		return nil
	}
}

func witnessServeFlags(fs *flag.FlagSet) runFunc {
	dataDir, name := witnessIDFlags(fs)
	var logs logFlag
	fs.Var(&logs, "log", "a log to witness: its checkpoint origin and a note verifier key trusted to sign its checkpoints, `ORIGIN=VKEY` (repeatable; a log may have several keys; VKEY alone means the origin is the key's name; several separated by spaces in one value)")
	addr := fs.String("addr", "127.0.0.1:7380", "listen address `HOST:PORT`")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with the certificate (chain) in `FILE`")
	tlsKey := fs.String("tls-key", "", "the private key of --tls-cert, in `FILE`")
	logFormat := fs.String("log-format", "text", "operational log format on stderr, `text|json`")
	logLevel := fs.String("log-level", "info", "`LEVEL`: debug, info, warn or error")
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("witness serve: unexpected argument %q", pos[0])
		}
		if len(logs) == 0 {
			return withHint(usageErr("witness serve: no --log to witness"), "give --log ORIGIN=VKEY with a ledger's checkpoint origin and audit verifier key")
		}
		if (*tlsCert == "") != (*tlsKey == "") {
			return usageErr("witness serve: --tls-cert and --tls-key go together")
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return usageErr("witness serve: --log-level: %v", err)
		}
		var h slog.Handler
		switch *logFormat {
		case "text":
			h = slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level})
		case "json":
			h = slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: level})
		default:
			return usageErr("witness serve: --log-format must be text or json")
		}
		log := slog.New(h)
		signer, dir, err := c.witnessKey(*dataDir, *name)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return withHint(usageErr("witness serve: %v", err), "choose another --addr (JWTLEDGER_ADDR)")
		}
		w, err := witness.New(witness.Config{Dir: dir, Signer: signer, Logs: logs.logs(), Logger: log})
		if err != nil {
			ln.Close()
			return usageErr("witness serve: %v", err)
		}
		defer w.Close()
		srv := &http.Server{
			Handler:           http.MaxBytesHandler(w.Handler(), witness.MaxRequestSize+1),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(h, slog.LevelWarn),
		}
		scheme := "http"
		if *tlsCert != "" {
			scheme = "https"
		}
		fmt.Fprintf(c.stdout, "jwtledger: witness %s listening on %s://%s (state in %s)\njwtledger: verifier key: %s\n",
			signer.Verifier().Name(), scheme, ln.Addr(), dir, signer.Verifier())
		for _, l := range w.Logs() {
			log.Info("witnessing", "origin", l.Origin, "size", l.Size)
		}
		errc := make(chan error, 1)
		go func() {
			if *tlsCert != "" {
				errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
			} else {
				errc <- srv.Serve(ln)
			}
		}()
		select {
		case err := <-errc:
			return fmt.Errorf("witness serve: %w", err)
		case <-ctx.Done():
		}
		log.Info("shutting down")
		// A fresh context: the signal one is already cancelled.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Warn("shutdown", "err", err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		log.Info("stopped")
		return nil
	}
}

// witnessKey loads (creating on first use) the witness key of the data
// directory and returns it with the witness directory.
func (c *cli) witnessKey(dataDir, name string) (*witness.Signer, string, error) {
	if dataDir == "" {
		d, err := defaults.DataDir()
		if err != nil {
			return nil, "", usageErr("%v", err)
		}
		dataDir = d
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", usageErr("witness: create data directory: %v", err)
	}
	master, err := keys.LoadMasterKey(dataDir, c.getenv("JWTLEDGER_MASTER_KEY"))
	if err != nil {
		return nil, "", withHint(usageErr("witness: %v", err), "check --data-dir (JWTLEDGER_DATA_DIR) and JWTLEDGER_MASTER_KEY")
	}
	dir := filepath.Join(dataDir, "witness")
	s, err := witness.LoadKey(dir, name, master)
	if err != nil {
		return nil, "", usageErr("witness: %v", err)
	}
	return s, dir, nil
}

// logFlag is the repeatable --log ORIGIN=VKEY flag; one value may hold
// several, separated by white space (for JWTLEDGER_LOG).
type logFlag []witness.Log

func (f *logFlag) String() string {
	var s []string
	for _, l := range *f {
		s = append(s, l.Origin)
	}
	return strings.Join(s, " ")
}

func (f *logFlag) Set(v string) error {
	items := strings.Fields(v)
	if len(items) == 0 {
		return errors.New("want ORIGIN=VKEY")
	}
	for _, item := range items {
		// ORIGIN=VKEY, or a bare VKEY (whose base64 may end in '='),
		// named by the key.
		origin, vkey, ok := strings.Cut(item, "=")
		v, err := note.NewVerifier(vkey)
		if !ok || err != nil {
			origin = ""
			v, err = note.NewVerifier(item)
		}
		if err != nil {
			return fmt.Errorf("%q is not ORIGIN=VKEY with a note verifier key (name+hash+base64): %v", item, err)
		}
		if origin == "" {
			origin = v.Name()
		}
		added := false
		for i := range *f {
			if (*f)[i].Origin == origin {
				(*f)[i].Verifiers = append((*f)[i].Verifiers, v)
				added = true
			}
		}
		if !added {
			*f = append(*f, witness.Log{Origin: origin, Verifiers: []note.Verifier{v}})
		}
	}
	return nil
}

func (f *logFlag) logs() []witness.Log { return *f }

// witnessFlag is serve's repeatable --witness NAME=VKEY@URL flag; one value
// may hold several, separated by white space (for JWTLEDGER_WITNESS).
type witnessFlag []auditor.Witness

func (f *witnessFlag) String() string {
	var s []string
	for _, w := range *f {
		s = append(s, w.Name)
	}
	return strings.Join(s, " ")
}

func (f *witnessFlag) Set(v string) error {
	items := strings.Fields(v)
	if len(items) == 0 {
		return errors.New("want NAME=VKEY@URL")
	}
	for _, item := range items {
		w, err := auditor.ParseWitness(item)
		if err != nil {
			return err
		}
		if w.URL == "" {
			return fmt.Errorf("witness %s has no @URL to send checkpoints to", w.Name)
		}
		for _, o := range *f {
			if o.Name == w.Name {
				return fmt.Errorf("witness %s given twice", w.Name)
			}
		}
		*f = append(*f, w)
	}
	return nil
}
