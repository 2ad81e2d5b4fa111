package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/keys"
)

// metrics holds the server's counters, exposed in the Prometheus text
// format at GET /metrics.
type metrics struct {
	requests      sync.Map // "route\x00status" -> *atomic.Uint64
	issued        sync.Map // "alg\x00client" -> *atomic.Uint64
	verifications sync.Map // outcome -> *atomic.Uint64
}

func inc(m *sync.Map, key string) {
	v, ok := m.Load(key)
	if !ok {
		v, _ = m.LoadOrStore(key, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

// series returns a map's keys and values sorted by key.
func series(m *sync.Map) (keys []string, vals map[string]uint64) {
	vals = map[string]uint64{}
	m.Range(func(k, v any) bool {
		keys = append(keys, k.(string))
		vals[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	slices.Sort(keys)
	return keys, vals
}

// countIssued counts an issued token by algorithm, and by client too with
// Config.MetricsClientLabels.
func (s *Server) countIssued(alg keys.Alg, client string) {
	if !s.cfg.MetricsClientLabels {
		client = ""
	}
	inc(&s.m.issued, string(alg)+"\x00"+client)
}

func label(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request, _ *call) error {
	var b strings.Builder
	help := func(name, typ, text string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ) }

	help("jwtledger_http_requests_total", "counter", "HTTP requests by route and status.")
	keys, vals := series(&s.m.requests)
	for _, k := range keys {
		route, status, _ := strings.Cut(k, "\x00")
		fmt.Fprintf(&b, "jwtledger_http_requests_total{route=\"%s\",status=\"%s\"} %d\n", label(route), status, vals[k])
	}
	if s.cfg.MetricsClientLabels {
		help("jwtledger_tokens_issued_total", "counter", "Tokens issued over HTTP by algorithm and client.")
	} else {
		help("jwtledger_tokens_issued_total", "counter", "Tokens issued over HTTP by algorithm.")
	}
	keys, vals = series(&s.m.issued)
	for _, k := range keys {
		alg, client, _ := strings.Cut(k, "\x00")
		if s.cfg.MetricsClientLabels {
			fmt.Fprintf(&b, "jwtledger_tokens_issued_total{alg=\"%s\",client=\"%s\"} %d\n", label(alg), label(client), vals[k])
		} else {
			fmt.Fprintf(&b, "jwtledger_tokens_issued_total{alg=\"%s\"} %d\n", label(alg), vals[k])
		}
	}
	help("jwtledger_verifications_total", "counter", "Verifications over HTTP by outcome.")
	keys, vals = series(&s.m.verifications)
	for _, k := range keys {
		fmt.Fprintf(&b, "jwtledger_verifications_total{outcome=\"%s\"} %d\n", label(k), vals[k])
	}
	open, rejected := s.connections()
	help("jwtledger_http_connections_rejected_total", "counter", "Connections refused beyond the connection cap (serve --max-conns), answered 503.")
	fmt.Fprintf(&b, "jwtledger_http_connections_rejected_total %d\n", rejected)
	help("jwtledger_http_connections_open", "gauge", "Connections open within the connection cap.")
	fmt.Fprintf(&b, "jwtledger_http_connections_open %d\n", open)
	st, depth := s.l.Trail().Stats()
	histogram(&b, "jwtledger_audit_batch_records", "Records per audit commit.", audit.BatchSizeBounds[:], st.BatchSizes[:], float64(st.Records), st.Batches)
	histogram(&b, "jwtledger_audit_commit_seconds", "Latency of audit commits (transaction and fsync).", audit.CommitBounds[:], st.Commits[:], st.CommitTime.Seconds(), st.Batches)
	help("jwtledger_audit_append_failures_total", "counter", "Audit batches that could not be made durable.")
	fmt.Fprintf(&b, "jwtledger_audit_append_failures_total %d\n", st.Failures)
	help("jwtledger_audit_queue_depth", "gauge", "Records waiting for the next audit commit.")
	fmt.Fprintf(&b, "jwtledger_audit_queue_depth %d\n", depth)
	help("jwtledger_audit_undelivered_records_total", "counter", "Records whose commit could not be confirmed durable, marked by an audit.undelivered record.")
	fmt.Fprintf(&b, "jwtledger_audit_undelivered_records_total %d\n", st.Undelivered)
	cps := s.ops.CheckpointHealth()
	help("jwtledger_audit_checkpoint_failures_total", "counter", "Failed checkpoint attempts of this node.")
	fmt.Fprintf(&b, "jwtledger_audit_checkpoint_failures_total %d\n", cps.Failures)
	failing := 0
	if cps.Failing != nil {
		failing = 1
	}
	help("jwtledger_audit_checkpoint_failing", "gauge", "1 while this node's newest checkpoint attempt failed.")
	fmt.Fprintf(&b, "jwtledger_audit_checkpoint_failing %d\n", failing)
	writeWitnessMetrics(&b, s.l, help)
	ready := 1
	if s.l.Ready(r.Context()) != nil {
		ready = 0
	}
	help("jwtledger_ready", "gauge", "1 when /readyz answers 200.")
	fmt.Fprintf(&b, "jwtledger_ready %d\n", ready)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, err := w.Write([]byte(b.String()))
	return err
}

func histogram(b *strings.Builder, name, text string, bounds []float64, counts []uint64, sum float64, total uint64) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, text, name)
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(bounds) {
			le = strconv.FormatFloat(bounds[i], 'g', -1, 64)
		}
		fmt.Fprintf(b, "%s_bucket{le=\"%s\"} %d\n", name, le, cum)
	}
	fmt.Fprintf(b, "%s_sum %g\n%s_count %d\n", name, sum, name, total)
}
