package server_test

import (
	"bytes"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics is read by Prometheus's own text-format parser: every family
// parses, with the type it declares, and the counters the requests moved
// have the values they should.
func TestMetricsParseWithPrometheus(t *testing.T) {
	e := newEnv(t)
	e.json("POST", "/v1/tokens", "issuer", map[string]any{"sub": "a"})
	e.json("POST", "/v1/tokens/verify", "verifier", map[string]any{"token": "x.y.z"})
	e.do("GET", "/v1/keys", "", "", nil)
	code, b, _ := e.do("GET", "/metrics", "", "", nil)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses /metrics: %v\n%s", err, b)
	}
	for _, tc := range []struct {
		family string
		labels map[string]string
		value  float64
	}{
		{"jwtledger_tokens_issued_total", map[string]string{"alg": "ES256"}, 1},
		{"jwtledger_verifications_total", map[string]string{"outcome": "malformed"}, 1},
		{"jwtledger_http_requests_total", map[string]string{"route": "GET /v1/keys", "status": "401"}, 1},
		{"jwtledger_http_connections_rejected_total", nil, 0},
		{"jwtledger_ready", nil, 1},
	} {
		f, ok := families[tc.family]
		if !ok {
			t.Errorf("no family %s", tc.family)
			continue
		}
		found := false
	metrics:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range tc.labels {
				if got[k] != v {
					continue metrics
				}
			}
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				v = m.GetUntyped().GetValue()
			}
			if v != tc.value {
				t.Errorf("%s%v = %v, want %v", tc.family, tc.labels, v, tc.value)
			}
			found = true
		}
		if !found {
			t.Errorf("%s has no series with %v", tc.family, tc.labels)
		}
	}
	if f := families["jwtledger_audit_batch_records"]; f == nil || f.GetType().String() != "HISTOGRAM" {
		t.Errorf("jwtledger_audit_batch_records is not a histogram: %v", f.GetType())
	}
}
