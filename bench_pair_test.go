package jwtledger

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/jws"
	"github.com/jwtledger/jwtledger/internal/keys"
)

// BenchmarkInterleaved runs the raw primitive, golang-jwt and jwtledger's
// codec back to back in every iteration and times each, so that drift in
// machine speed (frequent on shared VMs) hits all three alike. It reports
// ns per operation of each and the ratios the README quotes.
func BenchmarkInterleaved(b *testing.B) {
	for _, alg := range []keys.Alg{"HS256", "RS256", "PS256", "ES256", "EdDSA"} {
		b.Run(string(alg), func(b *testing.B) {
			e := newBenchEnv(b, alg)
			dot := strings.LastIndexByte(e.token, '.')
			input := []byte(e.token[:dot])
			sig, _ := b64.DecodeString(e.token[dot+1:])
			method := jwt.GetSigningMethod(string(alg))
			parser := jwt.NewParser(jwt.WithValidMethods([]string{string(alg)}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
			src := e.l.ring
			b.Run("issue", func(b *testing.B) {
				var raw, lib, ours time.Duration
				for b.Loop() {
					t0 := time.Now()
					rawSign(b, alg, e.signKey, input)
					t1 := time.Now()
					e.goJWTIssue(b, method)
					t2 := time.Now()
					e.codecIssue(b)
					t3 := time.Now()
					raw, lib, ours = raw+t1.Sub(t0), lib+t2.Sub(t1), ours+t3.Sub(t2)
				}
				report(b, raw, lib, ours)
			})
			b.Run("verify", func(b *testing.B) {
				var raw, lib, ours time.Duration
				for b.Loop() {
					t0 := time.Now()
					rawVerify(b, alg, e.pubKey, input, sig)
					t1 := time.Now()
					if _, err := parser.ParseWithClaims(e.token, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) { return e.pubKey, nil }); err != nil {
						b.Fatal(err)
					}
					t2 := time.Now()
					if _, _, err := jws.Verify(e.token, src, &jws.Options{Leeway: defaults.Leeway}); err != nil {
						b.Fatal(err)
					}
					t3 := time.Now()
					raw, lib, ours = raw+t1.Sub(t0), lib+t2.Sub(t1), ours+t3.Sub(t2)
				}
				report(b, raw, lib, ours)
			})
		})
	}
}

func report(b *testing.B, raw, lib, ours time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-ns")
	b.ReportMetric(float64(lib.Nanoseconds())/n, "golangjwt-ns")
	b.ReportMetric(float64(ours.Nanoseconds())/n, "jwtledger-ns")
	b.ReportMetric(float64(ours)/float64(raw), "ours/raw")
	b.ReportMetric(float64(ours)/float64(lib), "ours/golangjwt")
}
