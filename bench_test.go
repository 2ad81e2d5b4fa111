package jwtledger

// Benchmarks, side by side in one run (see README "Performance"):
//
//	raw          the bare crypto primitive on the same signing input
//	golang-jwt   golang-jwt/jwt v5 signing / parsing+validating the same claims
//	codec        jwtledger without audit: claims, jti, encoding, signature
//	audited/c=N  Ledger.Issue / Ledger.Verify with the durable SQLite audit
//	             trail, N concurrent callers (and codec/c=N to compare)
//
// Run: go test -run '^$' -bench . -benchtime 2s

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/jws"
	"github.com/jwtledger/jwtledger/internal/keys"
)

var benchAlgs = []keys.Alg{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// auditedAlgs get the concurrent audited runs too.
var auditedAlgs = map[keys.Alg]bool{"HS256": true, "ES256": true, "EdDSA": true}

var concurrency = []int{1, 16, 64}

type benchEnv struct {
	l       *Ledger
	key     *keys.Key
	signKey any // golang-jwt's form of the key
	pubKey  any
	token   string
}

func newBenchEnv(b *testing.B, alg keys.Alg) *benchEnv {
	b.Helper()
	// JWTLEDGER_BENCH_AUDIT_INDEX=1: the audit index on (its follower
	// running beside the appends), to compare with it off.
	l, err := Open(context.Background(), Config{DataDir: b.TempDir(), KeyAlg: alg, AuditIndex: os.Getenv("JWTLEDGER_BENCH_AUDIT_INDEX") == "1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	k := l.ring.Active()
	e := &benchEnv{l: l, key: k}
	switch k.Family() {
	case keys.FamilyHMAC:
		e.signKey = hmacSecret(b, k)
		e.pubKey = e.signKey
	default:
		p, err := k.UnsafeExportPrivatePEM()
		if err != nil {
			b.Fatal(err)
		}
		ks, _ := keys.Parse(p)
		_ = ks
		e.signKey = privateOf(b, p)
		e.pubKey = k.Public()
	}
	iss, err := l.Issue(context.Background(), IssueRequest{Subject: "alice", Audience: []string{"api"}})
	if err != nil {
		b.Fatal(err)
	}
	e.token = iss.Token
	return e
}

// goJWTIssue signs the benchmark's claims with golang-jwt.
func (e *benchEnv) goJWTIssue(b *testing.B, method jwt.SigningMethod) {
	now := time.Now()
	t := jwt.NewWithClaims(method, jwt.RegisteredClaims{Issuer: "jwtledger", Subject: "alice", Audience: jwt.ClaimStrings{"api"},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: randomID()})
	t.Header["kid"] = e.key.KID
	if _, err := t.SignedString(e.signKey); err != nil {
		b.Fatal(err)
	}
}

// codecIssue issues without audit: the ledger's issue path minus the record.
func (e *benchEnv) codecIssue(b *testing.B) {
	req := IssueRequest{Subject: "alice", Audience: []string{"api"}}
	var rec audit.Record
	if _, err := e.l.issue(time.Now(), &req, &rec); err != nil {
		b.Fatal(err)
	}
}

// runScaling runs codec and audited side by side at every concurrency level.
func runScaling(b *testing.B, l *Ledger, codec, audited func()) {
	for _, n := range concurrency {
		b.Run(fmt.Sprintf("codec/c=%d", n), func(b *testing.B) { runConcurrent(b, n, codec) })
		b.Run(fmt.Sprintf("audited/c=%d", n), func(b *testing.B) {
			defer reportBatches(b, l)()
			runConcurrent(b, n, audited)
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			e := newBenchEnv(b, alg)
			input := []byte(e.token[:strings.LastIndexByte(e.token, '.')])
			b.Run("raw", func(b *testing.B) {
				for b.Loop() {
					rawSign(b, alg, e.signKey, input)
				}
			})
			method := jwt.GetSigningMethod(string(alg))
			b.Run("golang-jwt", func(b *testing.B) {
				for b.Loop() {
					e.goJWTIssue(b, method)
				}
			})
			codec := func() { e.codecIssue(b) }
			b.Run("codec", func(b *testing.B) {
				for b.Loop() {
					codec()
				}
			})
			if !auditedAlgs[alg] {
				return
			}
			runScaling(b, e.l, codec, func() {
				if _, err := e.l.Issue(context.Background(), IssueRequest{Subject: "alice", Audience: []string{"api"}}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			e := newBenchEnv(b, alg)
			dot := strings.LastIndexByte(e.token, '.')
			input := []byte(e.token[:dot])
			sig, _ := b64.DecodeString(e.token[dot+1:])
			b.Run("raw", func(b *testing.B) {
				for b.Loop() {
					rawVerify(b, alg, e.pubKey, input, sig)
				}
			})
			b.Run("golang-jwt", func(b *testing.B) {
				p := jwt.NewParser(jwt.WithValidMethods([]string{string(alg)}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
				for b.Loop() {
					if _, err := p.ParseWithClaims(e.token, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) { return e.pubKey, nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
			src := e.l.ring
			codec := func() {
				if _, _, err := jws.Verify(e.token, src, &jws.Options{Leeway: defaults.Leeway}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("codec", func(b *testing.B) {
				for b.Loop() {
					codec()
				}
			})
			if !auditedAlgs[alg] {
				return
			}
			runScaling(b, e.l, codec, func() {
				if _, err := e.l.Verify(context.Background(), e.token); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// reportBatches adds the writer's records per batch and commit time per
// batch to the benchmark's output.
func reportBatches(b *testing.B, l *Ledger) func() {
	before := l.w.Stats()
	return func() {
		after := l.w.Stats()
		batches := float64(after.Batches - before.Batches)
		if batches == 0 {
			return
		}
		b.ReportMetric(float64(after.Records-before.Records)/batches, "recs/batch")
		b.ReportMetric(float64((after.CommitTime-before.CommitTime).Microseconds())/batches, "µs/commit")
	}
}

// runConcurrent runs fn b.N times over exactly n goroutines; ns/op is then
// wall time per operation, the inverse of throughput.
func runConcurrent(b *testing.B, n int, fn func()) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				fn()
			}
		}()
	}
	wg.Wait()
}

func rawSign(b *testing.B, alg keys.Alg, key any, input []byte) {
	var err error
	switch alg.Family() {
	case keys.FamilyHMAC:
		h := hmac.New(alg.Hash().New, key.([]byte))
		h.Write(input)
		h.Sum(nil)
	case keys.FamilyEd25519:
		ed25519.Sign(key.(ed25519.PrivateKey), input)
	case keys.FamilyEC:
		_, err = ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), digestOf(alg, input))
	case keys.FamilyRSA:
		if strings.HasPrefix(string(alg), "PS") {
			_, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), alg.Hash(), digestOf(alg, input), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			_, err = rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), alg.Hash(), digestOf(alg, input))
		}
	}
	if err != nil {
		b.Fatal(err)
	}
}

func rawVerify(b *testing.B, alg keys.Alg, key any, input, sig []byte) {
	ok := true
	switch alg.Family() {
	case keys.FamilyHMAC:
		h := hmac.New(alg.Hash().New, key.([]byte))
		h.Write(input)
		ok = hmac.Equal(h.Sum(nil), sig)
	case keys.FamilyEd25519:
		ok = ed25519.Verify(key.(ed25519.PublicKey), input, sig)
	case keys.FamilyEC:
		n := len(sig) / 2
		der := ecdsaDER(sig[:n], sig[n:])
		ok = ecdsa.VerifyASN1(key.(*ecdsa.PublicKey), digestOf(alg, input), der)
	case keys.FamilyRSA:
		var err error
		if strings.HasPrefix(string(alg), "PS") {
			err = rsa.VerifyPSS(key.(*rsa.PublicKey), alg.Hash(), digestOf(alg, input), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(key.(*rsa.PublicKey), alg.Hash(), digestOf(alg, input), sig)
		}
		ok = err == nil
	}
	if !ok {
		b.Fatal("raw verification failed")
	}
}

func digestOf(alg keys.Alg, input []byte) []byte {
	switch alg.Hash() {
	case crypto.SHA256:
		s := sha256.Sum256(input)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(input)
		return s[:]
	}
	s := sha512.Sum512(input)
	return s[:]
}

// ecdsaDER encodes r||s as the ASN.1 the raw primitive takes (the encoding
// cost is part of the raw baseline, as it is of any JOSE library).
func ecdsaDER(r, s []byte) []byte {
	enc := func(x []byte) []byte {
		for len(x) > 1 && x[0] == 0 {
			x = x[1:]
		}
		if x[0]&0x80 != 0 {
			x = append([]byte{0}, x...)
		}
		return append([]byte{2, byte(len(x))}, x...)
	}
	body := append(enc(r), enc(s)...)
	if len(body) < 128 {
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	return append([]byte{0x30, 0x81, byte(len(body))}, body...)
}
