// Package node opens and runs what a ledger is made of on one node: its
// store, master key and node id, the audit writer with its text and JSON
// logs, the checkpointer and its audit signing key, the store's health
// monitor, the limiter of auth.denied records, and the background work
// (checkpoints, summaries of suppressed denials, scheduled key rotation,
// the store's change notifications). The root package's Open fills its
// Ledger from a [Node]; what needs the ledger's own logic (keys, clients,
// checkpoints, exports) the Node calls through [Hooks]. The server and
// the console reach the Node's side for them through package service.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/internal/datadir"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/denial"
	"github.com/jwtledger/jwtledger/internal/health"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
)

// Checkpoint cadence defaults (see jwtledger.Config).
const (
	defaultCheckpointEvery       = 1000
	defaultCheckpointMinInterval = time.Second
	defaultCheckpointInterval    = 10 * time.Second
)

// Config is the part of jwtledger.Config a node is made from; Open fills
// the defaults in place (read them back from [Node].Config).
type Config struct {
	DataDir   string // created if missing
	Store     string // a store spec; "" is sqlite in DataDir
	OpenStore store.Opener
	MasterKey []byte // nil: DataDir/master.key
	NodeID    string // "": DataDir/node-id
	TextLog   string // "": beside the database; "off": none
	JSONLog   io.Writer

	CheckpointEvery       int
	CheckpointMinInterval time.Duration
	CheckpointInterval    time.Duration
	CheckpointFile        string // "": beside the database

	CheckIntegrity, AllowDamaged bool
	MinFreeSpace                 int64
	AuditIndex                   bool // store.Options.AuditIndex
	Denial                       denial.Limits

	// The key schedule: rotate when the active key is RotateEvery old
	// (0: never), pre-publishing the next key PrePublish before; MaxTTL
	// bounds token lifetimes, so that old keys can be retired.
	RotateEvery, PrePublish, MaxTTL time.Duration

	Now func() time.Time
	Log *slog.Logger
	// ErrAudit wraps every failure to make a record durable; ErrInvalid
	// makes the error of a refused request.
	ErrAudit   error
	ErrInvalid func(detail string) error
}

// Hooks are the ledger's own operations a node calls. Open calls none of
// them: they run once the ledger is filled in.
type Hooks struct {
	// Checkpoint makes, records and witnesses a checkpoint now.
	Checkpoint func(ctx context.Context) error
	// ReloadKeys re-reads the managed keys; AddKey stores k verify-only,
	// active from activates on, recording key.create with reason;
	// RetireKey retires a verify-only key (an error that only says it is
	// not verify-only any more is nil).
	ReloadKeys func(ctx context.Context) error
	AddKey     func(ctx context.Context, k *keys.Key, activates time.Time, reason string) error
	RetireKey  func(ctx context.Context, kid string) error
	// Export writes the records that match selects in full (every other
	// one by its leaf hash).
	Export func(ctx context.Context, w io.Writer, format auditor.ExportFormat, f audit.Filter) error
	// TokenScopes lists, sorted, the scopes some client may request.
	TokenScopes func(ctx context.Context) ([]string, error)
}

// Node is an open ledger's machinery. Its fields are set by Open and do
// not change.
type Node struct {
	Config Config // with the defaults filled in
	DB     store.Backend
	Caps   store.Capabilities // what DB can do beyond store.Store
	DBPath string             // of an embedded store
	Master []byte
	W      *audit.Writer
	Cps    *auditlog.Checkpointer
	Mon    *health.Monitor // readiness and the loss of the store
	Denied *denial.Limiter
	// AuditKey signs the checkpoints.
	AuditKey *auditlog.Key
	// Damaged is set when a damaged store was opened read-only for
	// inspection (Config.AllowDamaged).
	Damaged error

	hooks     Hooks
	stops     []func() // of the running loops and watcher, in start order
	started   bool
	stopWatch func()
}

// Open opens the store (the database first: master.key and node-id never
// exist without it), the master key and node id, the audit writer and its
// sinks, the checkpointer with its signing key, and checks the store's
// identity and, with CheckIntegrity, its file.
func Open(ctx context.Context, cfg Config, h Hooks) (*Node, error) {
	fillDefaults(&cfg)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dbPath := store.FilePath(cfg.Store, cfg.DataDir)
	if cfg.TextLog == "" {
		cfg.TextLog = datadir.SideFile(cfg.DataDir, dbPath, "jwt_logs.log")
	}
	if cfg.CheckpointFile == "" {
		cfg.CheckpointFile = datadir.SideFile(cfg.DataDir, dbPath, "checkpoints.log")
	}
	if dbPath == filepath.Join(cfg.DataDir, "jwtledger.db") {
		if err := datadir.CheckNotMissing(dbPath, cfg.DataDir, cfg.CheckpointFile); err != nil {
			return nil, err
		}
	}
	if s := store.Scheme(cfg.Store); (s == "postgres" || s == "postgresql") && cfg.MasterKey == nil {
		return nil, errors.New("config: a PostgreSQL store is shared by nodes, so they need one master key: set Config.MasterKey (with the CLI: JWTLEDGER_MASTER_KEY, 32 bytes, base64 or hex) to the same value on every node")
	}
	open := cfg.OpenStore
	if open == nil {
		open = store.Open
	}
	db, err := open(ctx, cfg.Store, store.Options{DataDir: cfg.DataDir, MinFree: cfg.MinFreeSpace, AuditIndex: cfg.AuditIndex})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	n := &Node{DB: db, Caps: db.Capabilities(), DBPath: dbPath, hooks: h}
	sinks, err := n.openFiles(&cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	n.Config = cfg
	n.W = audit.NewWriter(db, cfg.NodeID, sinks, cfg.Log)
	n.Cps = auditlog.NewCheckpointer(db, auditlog.CheckpointConfig{Chain: cfg.NodeID, Every: cfg.CheckpointEvery,
		MinInterval: cfg.CheckpointMinInterval, Interval: cfg.CheckpointInterval, File: cfg.CheckpointFile, Now: cfg.Now, Log: cfg.Log})
	n.W.AfterFlush = n.Cps.Appended
	n.Mon = &health.Monitor{Prober: n.Caps.Prober, Rescuer: n.Caps.Rescuer, Ping: db.Ping, Writer: n.W,
		CheckpointFailure: n.Cps.Failure,
		Checkpoint:        func(ctx context.Context) { h.Checkpoint(ctx) },
		NodeID:            cfg.NodeID, DBPath: dbPath, Log: cfg.Log, ErrAudit: cfg.ErrAudit}
	n.W.OnError = func(err error) {
		if errors.Is(err, store.ErrIdentity) {
			n.Mon.Lose(err)
		}
	}
	n.Denied = denial.New(cfg.Denial)
	if err := n.load(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func fillDefaults(cfg *Config) {
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = defaultCheckpointEvery
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = defaultCheckpointInterval
	}
	if cfg.CheckpointMinInterval <= 0 {
		cfg.CheckpointMinInterval = min(defaultCheckpointMinInterval, cfg.CheckpointInterval)
	}
	if cfg.PrePublish <= 0 {
		cfg.PrePublish = defaults.PrePublish
	}
	cfg.Denial = cfg.Denial.WithDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
}

// openFiles reads (or makes) the master key and node id, checks a given
// node id, and opens the text and JSON logs.
func (n *Node) openFiles(cfg *Config) ([]audit.Sink, error) {
	var err error
	switch {
	case cfg.MasterKey == nil:
		if n.Master, err = keys.LoadMasterKey(cfg.DataDir, ""); err != nil {
			return nil, err
		}
	case len(cfg.MasterKey) != keys.MasterKeySize:
		return nil, fmt.Errorf("config: master key must be %d bytes", keys.MasterKeySize)
	default:
		n.Master = cfg.MasterKey
	}
	if cfg.NodeID == "" {
		if cfg.NodeID, err = datadir.NodeID(cfg.DataDir); err != nil {
			return nil, err
		}
	} else if len(cfg.NodeID) > 64 || datadir.SanitizeID(cfg.NodeID) != cfg.NodeID {
		return nil, fmt.Errorf("config: node id %q: use 1 to 64 letters, digits, '-' and '.'", cfg.NodeID)
	}
	var sinks []audit.Sink
	if cfg.TextLog != "off" {
		ts, err := audit.OpenTextSink(cfg.TextLog)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, ts)
	}
	if cfg.JSONLog != nil {
		sinks = append(sinks, audit.NewJSONSink(cfg.JSONLog, nil))
	}
	return sinks, nil
}
