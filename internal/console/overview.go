package console

import (
	"html/template"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// windows of the overview: how far back, and the bucket width.
var windows = []struct {
	Name string
	Span time.Duration
	Step time.Duration
}{
	{"hour", time.Hour, audit.StepMinute},
	{"day", 24 * time.Hour, audit.StepHour},
	{"week", 7 * 24 * time.Hour, audit.StepHour},
}

// Outcomes records may carry, in the order the charts stack them.
var outcomes = []string{"valid", "ok", "expired", "not_yet_valid", "invalid_signature", "malformed", "unsupported_alg", "unknown_key", "invalid_claims", "revoked", "denied", "error"}

type tally struct {
	Name  string
	Class string
	N     int64
	Pct   string
}

type chainRow struct {
	ChainStatus
	Newest *Checkpoint
}

type overviewData struct {
	Window   string
	Windows  []string
	Rates    *chart
	Verdicts *chart
	Issued   int64
	Verified int64
	PerMin   [2]string // issue and verify per minute
	Outcomes []tally   // of token.verify
	Refusals []tally   // refused records by event and outcome
	Actors   []audit.Ranked
	Subjects []audit.Ranked
	Pending  int64

	Batches, Records, Failures uint64
	MeanBatch, MeanCommit      string
	Queued                     int
	BatchChart, CommitChart    template.HTML
	Chains                     []chainRow
}

func (c *Console) overview(x *exchange) error {
	ctx := x.r.Context()
	win := windows[1]
	for _, w := range windows {
		if w.Name == x.r.URL.Query().Get("window") {
			win = w
		}
	}
	now := c.now().UTC()
	since := now.Add(-win.Span).Truncate(win.Step).Add(win.Step)
	counts, err := c.b.Counts(ctx, audit.CountQuery{Since: since, Until: now, Step: win.Step, Top: 10})
	if err != nil {
		return err
	}
	d := &overviewData{Window: win.Name, Actors: counts.Actors, Subjects: counts.Subjects, Pending: counts.Pending}
	for _, w := range windows {
		d.Windows = append(d.Windows, w.Name)
	}
	var buckets []time.Time
	for t := since; !t.After(now); t = t.Add(win.Step) {
		buckets = append(buckets, t)
	}
	index := map[time.Time]int{}
	for i, b := range buckets {
		index[b] = i
	}
	p := &page{x: x, Lang: x.lang}
	events := map[string][]int64{}
	verdicts := map[string][]int64{}
	outcomeTotals := map[string]int64{}
	refusals := map[string]int64{}
	for _, k := range counts.Series {
		i, ok := index[k.Bucket]
		if !ok {
			continue
		}
		ev := string(k.Event)
		if ev != string(audit.TokenIssue) && ev != string(audit.TokenVerify) {
			ev = "other"
		}
		if events[ev] == nil {
			events[ev] = make([]int64, len(buckets))
		}
		events[ev][i] += k.N
		if k.Event == audit.TokenVerify {
			if verdicts[k.Outcome] == nil {
				verdicts[k.Outcome] = make([]int64, len(buckets))
			}
			verdicts[k.Outcome][i] += k.N
			outcomeTotals[k.Outcome] += k.N
			d.Verified += k.N
		}
		if k.Event == audit.TokenIssue {
			d.Issued += k.N
		}
		if k.Outcome != audit.OK && k.Outcome != "valid" {
			refusals[string(k.Event)+" "+k.Outcome] += k.N
		}
	}
	mins := float64(now.Sub(since)) / float64(time.Minute)
	d.PerMin = [2]string{strconv.FormatFloat(float64(d.Issued)/mins, 'f', 1, 64), strconv.FormatFloat(float64(d.Verified)/mins, 'f', 1, 64)}
	d.Rates = &chart{ID: "rates", Title: p.T("overview.rates"), Buckets: buckets, Step: win.Step}
	for _, ev := range []string{string(audit.TokenIssue), string(audit.TokenVerify), "other"} {
		if v := events[ev]; v != nil {
			d.Rates.Series = append(d.Rates.Series, series{Class: cssClass(ev), Label: p.T("event." + ev), Values: v})
		}
	}
	d.Verdicts = &chart{ID: "verdicts", Title: p.T("overview.verdicts"), Buckets: buckets, Step: win.Step}
	known := slices.Clone(outcomes)
	for o := range verdicts {
		if !slices.Contains(known, o) {
			known = append(known, o)
		}
	}
	for _, o := range known {
		if v := verdicts[o]; v != nil {
			d.Verdicts.Series = append(d.Verdicts.Series, series{Class: cssClass(o), Label: o, Values: v})
			d.Outcomes = append(d.Outcomes, tally{Name: o, Class: cssClass(o), N: outcomeTotals[o], Pct: pct(outcomeTotals[o], d.Verified)})
		}
	}
	var refused int64
	for _, n := range refusals {
		refused += n
	}
	for k, n := range refusals {
		d.Refusals = append(d.Refusals, tally{Name: k, N: n, Pct: pct(n, refused)})
	}
	sort.Slice(d.Refusals, func(i, j int) bool {
		if d.Refusals[i].N != d.Refusals[j].N {
			return d.Refusals[i].N > d.Refusals[j].N
		}
		return d.Refusals[i].Name < d.Refusals[j].Name
	})

	st, queued := c.b.WriterStats()
	d.Batches, d.Records, d.Failures, d.Queued = st.Batches, st.Records, st.Failures, queued
	if st.Batches > 0 {
		d.MeanBatch = strconv.FormatFloat(float64(st.Records)/float64(st.Batches), 'f', 1, 64)
		d.MeanCommit = (st.CommitTime / time.Duration(st.Batches)).Round(time.Microsecond).String()
	}
	var sizeLabels, commitLabels []string
	for _, b := range audit.BatchSizeBounds {
		sizeLabels = append(sizeLabels, "≤"+strconv.FormatFloat(b, 'g', -1, 64))
	}
	sizeLabels = append(sizeLabels, ">"+strconv.FormatFloat(audit.BatchSizeBounds[len(audit.BatchSizeBounds)-1], 'g', -1, 64))
	for _, b := range audit.CommitBounds {
		commitLabels = append(commitLabels, "≤"+time.Duration(b*float64(time.Second)).String())
	}
	commitLabels = append(commitLabels, ">"+time.Duration(audit.CommitBounds[len(audit.CommitBounds)-1]*float64(time.Second)).String())
	d.BatchChart = bars("batches", p.T("overview.batchsize"), sizeLabels, st.BatchSizes[:])
	d.CommitChart = bars("commits", p.T("overview.commit"), commitLabels, st.Commits[:])

	chains, err := c.b.Chains(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chains {
		row := chainRow{ChainStatus: ch}
		cps, err := c.b.Checkpoints(ctx, ch.Chain)
		if err != nil {
			return err
		}
		if len(cps) > 0 {
			row.Newest = &cps[len(cps)-1]
		}
		d.Chains = append(d.Chains, row)
	}
	return x.ok("overview", "overview.title", d)
}

func pct(n, of int64) string {
	if of == 0 {
		return "0"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64)
}
