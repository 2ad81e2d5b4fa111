package jwtledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/trail"
)

// ledgerWithRecords opens a ledger whose chain holds n records of realistic
// size, appended straight through the store in large batches.
func ledgerWithRecords(b *testing.B, n int) *Ledger {
	b.Helper()
	l, err := Open(context.Background(), Config{DataDir: b.TempDir(), TextLog: "off"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	have, _ := l.db.TreeSize(context.Background(), l.NodeID())
	now := time.Now()
	batch := make([]*audit.Record, 0, 2000)
	for i := int(have); i < n; i++ {
		var j [16]byte
		rand.Read(j[:])
		batch = append(batch, &audit.Record{Time: now, Event: audit.TokenVerify, Outcome: "valid", Actor: "client-42",
			Sub: "user-" + strconv.Itoa(i%5000), Aud: []string{"api"}, JTI: base64.RawURLEncoding.EncodeToString(j[:]),
			KID: "O1qQ3ObTJWJo_c7mqsv2_sOazY6vaxkhR-u8wG1n2Uo", Alg: "ES256", Exp: now.Add(time.Hour),
			TokenSHA256: "a39f2d3d8d620f3e26443aecbabbf93c263ca05344d8dbabfd57213c260b8a8c"})
		if len(batch) == cap(batch) || i == n-1 {
			if err := l.db.Append(context.Background(), l.NodeID(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := l.Trail().Checkpoint(context.Background(), trail.Meta{}); err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkAuditVerify measures `audit verify` on a ledger of 1 million
// records (100,000 with -short), reported as records/s.
func BenchmarkAuditVerify(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	l := ledgerWithRecords(b, n)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		rep, err := l.Trail().Verify(context.Background(), auditor.VerifyOptions{})
		if err != nil || !rep.OK || rep.Records != int64(n) {
			b.Fatalf("verify: %v %+v", err, rep)
		}
	}
	b.ReportMetric(float64(b.N)*float64(n)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkAuditVerifyExport measures the offline verification of a JSONL
// export (auditor.VerifyExport, `audit verify --from-export`) of 200,000
// records (20,000 with -short), reported as records/s.
func BenchmarkAuditVerifyExport(b *testing.B) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	l := ledgerWithRecords(b, n)
	var exp bytes.Buffer
	if err := l.Trail().Export(context.Background(), &exp, auditor.ExportJSONL, time.Time{}, time.Time{}); err != nil {
		b.Fatal(err)
	}
	vkey := l.Trail().VerifierKey()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		rep, err := auditor.VerifyExport(bytes.NewReader(exp.Bytes()), vkey, auditor.VerifyOptions{})
		if err != nil || !rep.OK || rep.Records != int64(n) {
			b.Fatalf("verify export: %v %+v", err, rep)
		}
	}
	b.ReportMetric(float64(b.N)*float64(n)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkProve measures inclusion proof generation in a ledger of 100,000
// records.
func BenchmarkProve(b *testing.B) {
	l := ledgerWithRecords(b, 100_000)
	i := int64(0)
	for b.Loop() {
		i = i*7919%100_000 + 1
		if _, err := l.Trail().Prove(context.Background(), "", i); err != nil {
			b.Fatal(err)
		}
	}
}
