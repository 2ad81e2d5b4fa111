package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
)

// genOptions are the generator's flags.
type genOptions struct {
	ledger
	records     int64         // records the ledger should hold at the end
	maxDuration time.Duration // stop then, whatever was reached
	callers     int           // concurrent callers (so group commits are realistic)
	days        float64       // simulated span of the new records, ending now
	alg         keys.Alg      // managed key algorithm (and of the rotations)
	rotations   int           // key rotations spread over the run
	subjects    uint64        // distinct subjects (Zipf)
	seed        uint64
	progress    io.Writer // every 10 s: records and rate (nil: none)
}

// genResult is what a generation did and what the ledger is now.
type genResult struct {
	Backend          string  `json:"backend"`
	Records          int64   `json:"records"` // in the ledger afterwards
	Added            int64   `json:"added"`
	Seconds          float64 `json:"seconds"`
	RecordsPerSecond float64 `json:"records_per_second"`
	StoreBytes       int64   `json:"store_bytes"`
	BytesPerRecord   float64 `json:"bytes_per_record"`
	// Stopped says why generation ended: "records", "max-duration" or
	// "interrupted".
	Stopped string           `json:"stopped"`
	Calls   map[string]int64 `json:"calls"` // library calls by kind
	// RecordsPerCommit is the audit writer's mean batch.
	RecordsPerCommit float64 `json:"records_per_commit"`
	Sample           sample  `json:"sample"`
}

// sample holds values of the generated ledger that the query table looks
// up: the generator knows them, so nothing has to be found by a scan. It is
// kept in the data directory as scale.json.
type sample struct {
	Start        time.Time `json:"start"` // simulated time of the first generated record
	End          time.Time `json:"end"`
	MidJTI       string    `json:"mid_jti"` // of a token issued half-way
	MidRequestID string    `json:"mid_request_id"`
	MidSub       string    `json:"mid_sub"`
	RareSub      string    `json:"rare_sub"`   // a handful of records spread over the ledger
	RareActor    string    `json:"rare_actor"` // likewise
	CommonActor  string    `json:"common_actor"`
	KIDs         []string  `json:"kids"` // the managed keys, oldest first
}

const sampleFile = "scale.json"

// maxStep bounds the record time per record (10 M records span 30 days:
// 0.26 s each).
const maxStep = 300 * time.Millisecond

func readSample(dir string) (sample, error) {
	var s sample
	b, err := os.ReadFile(filepath.Join(dir, sampleFile))
	if err != nil {
		return s, fmt.Errorf("read %s (was the ledger made by 'scale gen'?): %w", sampleFile, err)
	}
	return s, json.Unmarshal(b, &s)
}

// clients of the generated traffic, by weight; rareActor makes a record now
// and then.
var clients = []struct {
	id string
	w  int
}{{"cl_web", 40}, {"cl_mobile", 25}, {"cl_batch", 12}, {"cl_partner_a", 8}, {"cl_partner_b", 5}, {"cl_internal", 4},
	{"cl_reports", 2}, {"cl_billing", 2}, {"cl_search", 1}, {"cl_admin_tool", 1}}

const (
	rareActor = "cl_rare_auditor"
	rareSub   = "user-rare-0001"
)

// generate appends records through the ledger's public calls until the
// ledger holds o.records or o.maxDuration passed.
func generate(ctx context.Context, o genOptions) (*genResult, error) {
	began := time.Now()
	var made atomic.Int64
	// The record clock: the new records spread over o.days ending about now,
	// in step with the progress (so a run cut short ends in the past).
	prev, _ := readSample(o.dir)
	// At most maxStep of record time per record: concurrent callers make
	// hundreds of records between a caller's issue and its verifications,
	// and its tokens (5 min to 8 h) must not have expired by then.
	span := min(time.Duration(o.days*float64(24*time.Hour)), time.Duration(o.records)*maxStep)
	start := time.Now().Add(-span)
	if !prev.End.IsZero() && prev.End.After(start) {
		start = prev.End // a top-up continues the simulated time
		span = time.Since(start)
	}
	// The clock follows the records made or the time spent, whichever
	// is further along, so a run cut short by -max-duration still ends
	// about now (and the console's windows have its newest records).
	var want atomic.Int64
	now := func() time.Time {
		w := want.Load()
		if w <= 0 {
			return start
		}
		f := max(float64(made.Load())/float64(w), float64(time.Since(began))/float64(o.maxDuration))
		return start.Add(time.Duration(min(f, 1) * float64(span)))
	}
	cfg := o.config()
	cfg.KeyAlg, cfg.Now = o.alg, now
	// Every denial is recorded: the limit's buckets run on real time, so
	// with it the denials kept per simulated hour followed the machine's
	// speed (a fast run kept ~3 an hour, and TestSmoke's hour with an
	// auth.denied sometimes had none).
	cfg.DenialLimit.Off = true
	l, err := jwtledger.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	open := true
	defer func() {
		if open {
			l.Close()
		}
	}()
	have, err := chainsOf(ctx, l)
	if err != nil {
		return nil, err
	}
	want.Store(o.records - have)
	res := &genResult{Backend: o.backend(), Calls: map[string]int64{}, Sample: prev}
	if want.Load() <= 0 {
		res.Records, res.Stopped = have, "records"
		return res, o.sizeInto(ctx, res)
	}
	if res.Sample.Start.IsZero() {
		res.Sample.Start = start
	}
	res.Sample.RareSub, res.Sample.RareActor, res.Sample.CommonActor = rareSub, rareActor, clients[0].id

	runCtx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()
	// An iteration makes about three records.
	g := &generator{l: l, now: now, made: &made, want: want.Load(), o: o, calls: map[string]*atomic.Int64{}, rareEvery: max(1000, want.Load()/30)}
	for _, k := range callKinds {
		g.calls[k] = new(atomic.Int64)
	}
	if have > 1 { // a top-up: the rotations were spread over the first run
		g.o.rotations = 0
	}
	g.zipf = rand.NewZipf(rand.New(rand.NewPCG(o.seed+uint64(have), 1)), 1.1, 4, o.subjects-1)
	totalW := 0
	for _, c := range clients {
		totalW += c.w
	}
	g.totalW = totalW
	var wg sync.WaitGroup
	errs := make(chan error, o.callers)
	for i := range o.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.caller(runCtx, rand.New(rand.NewPCG(o.seed+uint64(have), uint64(i)+100))); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if o.progress != nil {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			t := time.NewTicker(10 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					n := made.Load()
					fmt.Fprintf(o.progress, "scale: %d of %d records, %.0f records/s\n", have+n, o.records, float64(n)/time.Since(began).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	progressDone.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	switch {
	case made.Load() >= want.Load():
		res.Stopped = "records"
	case ctx.Err() != nil:
		res.Stopped = "interrupted"
	default:
		res.Stopped = "max-duration"
	}
	for k, v := range g.calls {
		res.Calls[k] = v.Load()
	}
	g.mu.Lock()
	if mid, ok := g.middle(); ok && res.Sample.MidJTI == "" { // a top-up keeps the first run's
		res.Sample.MidJTI, res.Sample.MidRequestID, res.Sample.MidSub = mid.jti, mid.requestID, mid.sub
	}
	g.mu.Unlock()
	ks, err := l.Keys(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ks, func(a, b jwtledger.KeyInfo) int { return a.Created.Compare(b.Created) })
	res.Sample.KIDs = res.Sample.KIDs[:0]
	for _, k := range ks {
		res.Sample.KIDs = append(res.Sample.KIDs, k.KID)
	}
	if st, _ := l.Trail().Stats(); st.Batches > 0 {
		res.RecordsPerCommit = float64(st.Records) / float64(st.Batches)
	}
	res.Sample.End = now()
	open = false
	if err := l.Close(); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(began).Seconds()
	res.Added = made.Load()
	res.RecordsPerSecond = float64(res.Added) / res.Seconds
	if res.Records, err = countRecords(ctx, o.ledger); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(res.Sample, "", "  ")
	if err := os.WriteFile(filepath.Join(o.dir, sampleFile), b, 0o600); err != nil {
		return nil, err
	}
	return res, o.sizeInto(ctx, res)
}

// sizeInto fills the store's size and bytes per record.
func (o *ledger) sizeInto(ctx context.Context, res *genResult) error {
	n, err := o.storeBytes(ctx)
	if err != nil {
		return err
	}
	res.StoreBytes = n
	if res.Records > 0 {
		res.BytesPerRecord = float64(n) / float64(res.Records)
	}
	return nil
}

// countRecords is the number of records in every chain of the ledger.
func countRecords(ctx context.Context, o ledger) (int64, error) {
	l, err := jwtledger.Open(ctx, o.config())
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return chainsOf(ctx, l)
}

// chainsOf is the number of records in every chain of an open ledger.
func chainsOf(ctx context.Context, l *jwtledger.Ledger) (int64, error) {
	cs, err := service.Of(l).AuditChains(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range cs {
		n += c.Records
	}
	return n, nil
}

type generator struct {
	l      *jwtledger.Ledger
	now    func() time.Time
	made   *atomic.Int64
	want   int64
	o      genOptions
	totalW int
	calls  map[string]*atomic.Int64 // by kind, see callKinds
	iter   atomic.Int64
	rotate sync.Mutex // one rotation at a time
	zmu    sync.Mutex
	zipf   *rand.Zipf
	// rareEvery: one iteration in this many is made by the rare actor and
	// one (another) is about the rare subject.
	rareEvery int64

	rotated atomic.Int64
	sampled atomic.Int64 // samples taken: the next is due at sampled/64 of want
	mu      sync.Mutex
	samples []midSample
}

// midSample is a token issued when made records were made.
type midSample struct {
	made                int64
	jti, requestID, sub string
}

// middle is the sample taken nearest to half of what was made.
func (g *generator) middle() (midSample, bool) {
	half := g.made.Load() / 2
	var best midSample
	for _, s := range g.samples {
		if best.jti == "" || abs(s.made-half) < abs(best.made-half) {
			best = s
		}
	}
	return best, best.jti != ""
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (g *generator) subject() string {
	g.zmu.Lock()
	defer g.zmu.Unlock()
	return fmt.Sprintf("user-%06d", g.zipf.Uint64())
}

// callKinds are the library calls the generator makes.
var callKinds = []string{"issue", "verify", "revoke", "denied", "rotate"}

func (g *generator) count(kind string, records int64) {
	g.made.Add(records)
	g.calls[kind].Add(1)
}

func (g *generator) meta(r *rand.Rand, actor string) jwtledger.Meta {
	var id [12]byte
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return jwtledger.Meta{Actor: actor, Remote: fmt.Sprintf("10.%d.%d.%d:%d", r.IntN(4), r.IntN(256), r.IntN(256), 1024+r.IntN(60000)),
		RequestID: base64.RawURLEncoding.EncodeToString(id[:])}
}

var audiences = [][]string{{"api"}, {"api"}, {"api"}, {"billing"}, {"api", "reports"}, {"search"}}
var ttls = []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour, time.Hour, 8 * time.Hour}

// unknownKIDHeader is a JOSE header naming a key the ledger has not got.
var unknownKIDHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"retired-elsewhere-7","typ":"JWT"}`))

// caller is one client of the ledger: it issues a token, verifies it one
// to three times with a mix of outcomes, now and then revokes it first,
// and now and then is refused (auth.denied).
func (g *generator) caller(ctx context.Context, r *rand.Rand) error {
	for ctx.Err() == nil && g.made.Load() < g.want {
		it := g.iter.Add(1)
		// Rotations at even fractions of the run.
		if g.o.rotations > 0 {
			step := g.want / int64(g.o.rotations+1)
			if k := g.made.Load() / max(step, 1); k > g.rotated.Load() && k <= int64(g.o.rotations) && g.rotate.TryLock() {
				if k > g.rotated.Load() { // not yet rotated for this fraction
					if _, err := g.l.RotateKey(ctx, g.o.alg, jwtledger.Meta{Actor: "local:ops", RequestID: fmt.Sprint("rotate-", k)}); err != nil {
						g.rotate.Unlock()
						return ignoreDone(ctx, fmt.Errorf("rotate: %w", err))
					}
					g.rotated.Store(k)
					g.count("rotate", 1)
				}
				g.rotate.Unlock()
			}
		}
		actor := ""
		x := r.IntN(g.totalW)
		for _, c := range clients {
			if x < c.w {
				actor = c.id
				break
			}
			x -= c.w
		}
		sub := g.subject()
		// About ten calls of the run are made by the rare actor, and
		// about ten others are about the rare subject.
		switch it % g.rareEvery {
		case 17:
			actor = rareActor
		case g.rareEvery/2 + 17:
			sub = rareSub
		}
		if r.IntN(200) == 0 {
			if err := service.Of(g.l).RecordDenied(ctx, "POST /v1/tokens: invalid client credentials", service.Meta(g.meta(r, actor))); err != nil {
				return ignoreDone(ctx, fmt.Errorf("record denial: %w", err))
			}
			g.count("denied", 1)
			continue
		}
		m := g.meta(r, actor)
		ttl := ttls[r.IntN(len(ttls))]
		iss, err := g.l.Issue(ctx, jwtledger.IssueRequest{Subject: sub, Audience: audiences[r.IntN(len(audiences))], TTL: ttl, Meta: m})
		if err != nil {
			return ignoreDone(ctx, fmt.Errorf("issue: %w", err))
		}
		g.count("issue", 1)
		// A sample every 1/64 of the way, so that a run cut short by
		// -max-duration still has one from about its middle.
		if k := g.made.Load() * 64 / max(g.want, 1); k >= g.sampled.Load() && g.sampled.CompareAndSwap(k, k+1) {
			g.mu.Lock()
			g.samples = append(g.samples, midSample{made: g.made.Load(), jti: iss.JTI, requestID: m.RequestID, sub: sub})
			g.mu.Unlock()
		}
		revoked := r.IntN(250) == 0
		if revoked {
			if _, err := g.l.Revoke(ctx, "", iss.JTI, iss.ExpiresAt, g.meta(r, actor)); err != nil {
				return ignoreDone(ctx, fmt.Errorf("revoke: %w", err))
			}
			g.count("revoke", 1)
		}
		for range 1 + r.IntN(3) {
			tok := iss.Token
			opts := []jwtledger.VerifyOption{jwtledger.WithMeta(g.meta(r, actor))}
			switch x := r.IntN(100); {
			case revoked:
			case x < 10: // presented after it expired
				late := ttl + time.Hour
				opts = append(opts, jwtledger.WithTimeFunc(func() time.Time { return g.now().Add(late) }))
			case x < 14: // a damaged or forged signature
				tok = tok[:len(tok)-6] + "AAAAAA"
			case x < 16:
				tok = "not-a-token"
			case x < 17: // signed by a key this ledger does not know
				tok = unknownKIDHeader + tok[strings.IndexByte(tok, '.'):]
			case x < 19: // meant for another audience
				opts = append(opts, jwtledger.WithAudience("admin"))
			}
			_, err := g.l.Verify(ctx, tok, opts...)
			if err != nil && token.OutcomeOf(err) == "" {
				return ignoreDone(ctx, fmt.Errorf("verify: %w", err))
			}
			g.count("verify", 1)
		}
	}
	return nil
}

// ignoreDone drops an error caused by the end of the run.
func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jwtledger.ErrAudit)) {
		return nil
	}
	return err
}
