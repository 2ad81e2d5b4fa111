package console

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// pageSize is how many records the explorer shows at once.
const pageSize = 50

// filterForm is the explorer's filter as the form holds it.
type filterForm struct {
	Since, Until, Event, Outcome, Sub, JTI, Actor, KID, RequestID, Chain string
}

var filterParams = []struct {
	name string
	get  func(*filterForm) *string
}{
	{"since", func(f *filterForm) *string { return &f.Since }},
	{"until", func(f *filterForm) *string { return &f.Until }},
	{"event", func(f *filterForm) *string { return &f.Event }},
	{"outcome", func(f *filterForm) *string { return &f.Outcome }},
	{"sub", func(f *filterForm) *string { return &f.Sub }},
	{"jti", func(f *filterForm) *string { return &f.JTI }},
	{"actor", func(f *filterForm) *string { return &f.Actor }},
	{"kid", func(f *filterForm) *string { return &f.KID }},
	{"request_id", func(f *filterForm) *string { return &f.RequestID }},
	{"chain", func(f *filterForm) *string { return &f.Chain }},
}

// Query is the filter as URL parameters (empty ones left out).
func (f *filterForm) Query() url.Values {
	q := url.Values{}
	for _, p := range filterParams {
		if v := *p.get(f); v != "" {
			q.Set(p.name, v)
		}
	}
	return q
}

// parseFilter reads the filter parameters; times are RFC 3339, a date, or
// a duration ago ("1h"), as in `jwtledger audit query`.
func (c *Console) parseFilter(q url.Values) (filterForm, audit.Filter, error) {
	var ff filterForm
	for _, p := range filterParams {
		v := strings.TrimSpace(q.Get(p.name))
		if len(v) > 256 {
			return ff, audit.Filter{}, &RequestError{Msg: p.name + ": too long"}
		}
		*p.get(&ff) = v
	}
	f := audit.Filter{Event: audit.Event(ff.Event), Outcome: ff.Outcome, Sub: ff.Sub, JTI: ff.JTI, Actor: ff.Actor, KID: ff.KID, RequestID: ff.RequestID, Chain: ff.Chain}
	var err error
	if f.Since, err = parseTime(ff.Since, c.now()); err != nil {
		return ff, f, &RequestError{Msg: "since: " + err.Error()}
	}
	if f.Until, err = parseTime(ff.Until, c.now()); err != nil {
		return ff, f, &RequestError{Msg: "until: " + err.Error()}
	}
	return ff, f, nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339, YYYY-MM-DD, or a duration ago like 1h)", s)
}

type explorerData struct {
	Filter   filterForm
	Query    string // the filter as a URL query
	Records  []*audit.Record
	Older    string // the cursor of the next (older) page
	Paged    bool   // not the newest page
	Newest   int64  // ID of the newest record shown, for the live tail
	Events   []audit.Event
	Outcomes []string
	Chains   []ChainStatus
	Took     time.Duration
}

func (c *Console) explorer(x *exchange) error {
	ctx := x.r.Context()
	ff, f, err := c.parseFilter(x.r.URL.Query())
	if err != nil {
		return err
	}
	d := &explorerData{Filter: ff, Query: ff.Query().Encode(), Events: audit.Events, Outcomes: outcomes}
	if v := x.r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return &RequestError{Msg: "invalid cursor"}
		}
		f.Before, d.Paged = n, true
	}
	f.Newest, f.Limit = true, pageSize+1
	start := time.Now()
	recs, err := c.b.Records(ctx, f)
	if err != nil {
		return err
	}
	d.Took = time.Since(start).Round(time.Millisecond)
	if len(recs) > pageSize {
		recs = recs[1:]
		d.Older = strconv.FormatInt(recs[0].ID, 10)
	}
	// Newest first on the page.
	for i := len(recs) - 1; i >= 0; i-- {
		d.Records = append(d.Records, recs[i])
	}
	if len(d.Records) > 0 {
		d.Newest = d.Records[0].ID
	} else if !d.Paged {
		// Nothing matches yet: the live tail starts from the newest record.
		all, err := c.b.Records(ctx, audit.Filter{Newest: true, Limit: 1})
		if err != nil {
			return err
		}
		if len(all) > 0 {
			d.Newest = all[0].ID
		}
	}
	if d.Chains, err = c.b.Chains(ctx); err != nil {
		return err
	}
	return x.ok("explorer", "explorer.title", d)
}

// tailRecord is a record as the live tail sends it.
type tailRecord struct {
	ID      int64  `json:"id"`
	URL     string `json:"url"`
	Time    string `json:"time"`
	Chain   string `json:"chain"`
	Seq     uint64 `json:"seq"`
	Event   string `json:"event"`
	Outcome string `json:"outcome"`
	Actor   string `json:"actor"`
	Sub     string `json:"sub"`
	JTI     string `json:"jti"`
	Reason  string `json:"reason"`
}

// The live tail also looks for records every tailPoll without a wake-up
// (written by another process or node); it queries at most every
// tailEvery, for at most tailBatch records.
const (
	tailPoll  = 2 * time.Second
	tailEvery = 200 * time.Millisecond
	tailBatch = 100
)

// tail streams the records that match the filter and come after the
// cursor as Server-Sent Events, as they are committed.
func (c *Console) tail(x *exchange) error {
	_, f, err := c.parseFilter(x.r.URL.Query())
	if err != nil {
		return err
	}
	after, _ := strconv.ParseInt(x.r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseInt(x.r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > after {
		after = id // a reconnecting EventSource goes on where it was
	}
	rc := http.NewResponseController(x.w)
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	x.w.WriteHeader(http.StatusOK)
	wake, cancel := c.b.Subscribe()
	defer cancel()
	c.wg.Add(1)
	defer c.wg.Done()
	poll := time.NewTicker(tailPoll)
	defer poll.Stop()
	ctx := x.r.Context()
	write := func(s string) error {
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := fmt.Fprint(x.w, s); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write("retry: 1000\n\n"); err != nil {
		return nil
	}
	beats := 0
	last := time.Time{}
	for {
		// At most tailRate queries a second, whatever the commit rate, and
		// at most tailBatch records each: a person reads no more, and under
		// load the newest matter (a gap event says some were skipped).
		if wait := tailEvery - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		last = time.Now()
		f.After, f.Limit, f.Newest = after, tailBatch, true
		recs, err := c.b.Records(ctx, f)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("console: live tail query failed", "err", err)
			}
			return nil
		}
		if len(recs) == tailBatch {
			if err := write("event: gap\ndata: {}\n\n"); err != nil {
				return nil
			}
		}
		for _, r := range recs {
			j, _ := json.Marshal(tailRecord{ID: r.ID, URL: c.recordURL(r), Time: r.Time.UTC().Format(time.RFC3339Nano), Chain: r.Chain, Seq: r.Seq,
				Event: string(r.Event), Outcome: r.Outcome, Actor: r.Actor, Sub: r.Sub, JTI: r.JTI, Reason: r.Reason})
			if err := write("id: " + strconv.FormatInt(r.ID, 10) + "\nevent: record\ndata: " + string(j) + "\n\n"); err != nil {
				return nil
			}
			after = r.ID
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.stop:
			write("event: end\ndata: {}\n\n")
			return nil
		case <-wake:
		case <-poll.C:
			if c.sess.get(x.sid) == nil {
				write("event: end\ndata: {}\n\n")
				return nil
			}
			if beats++; beats%8 == 0 {
				if err := write(": keep-alive\n\n"); err != nil {
					return nil
				}
			}
		}
	}
}

func (c *Console) recordURL(r *audit.Record) string {
	return c.prefix + "/record/" + url.PathEscape(r.Chain) + "/" + strconv.FormatUint(r.Seq, 10)
}

// export streams the audit export of the current filter.
func (c *Console) export(x *exchange) error {
	_, f, err := c.parseFilter(x.r.URL.Query())
	if err != nil {
		return err
	}
	format := x.r.URL.Query().Get("format")
	ctype := map[string]string{"jsonl": "application/jsonl", "csv": "text/csv; charset=utf-8"}[format]
	if ctype == "" {
		return &RequestError{Msg: "format must be jsonl or csv"}
	}
	h := x.w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="jwtledger-audit-`+c.now().UTC().Format("20060102T150405Z")+`.`+format+`"`)
	rc := http.NewResponseController(x.w)
	rc.SetWriteDeadline(time.Now().Add(time.Hour))
	if err := c.b.Export(x.r.Context(), x.w, format, f); err != nil {
		c.log.Warn("console: export failed", "err", err)
	}
	return nil
}

type recordData struct {
	R        *audit.Record
	Encoding string
	Leaf     string
	ProofURL string
	Key      string
}

func (c *Console) lookup(x *exchange) (*audit.Record, error) {
	seq, err := strconv.ParseInt(x.r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return nil, x.fail(http.StatusNotFound, "error.notfound")
	}
	r, err := c.b.Record(x.r.Context(), x.r.PathValue("chain"), seq)
	if errors.Is(err, ErrNotFound) {
		return nil, x.fail(http.StatusNotFound, "error.notfound")
	}
	return r, err
}

func (c *Console) record(x *exchange) error {
	r, err := c.lookup(x)
	if err != nil {
		return err
	}
	return x.ok("record", "record.title", &recordData{R: r, Encoding: string(audit.Encode(nil, r)), Leaf: hex.EncodeToString(r.LeafHash[:]),
		ProofURL: c.recordURL(r) + "/proof", Key: c.b.VerifierKey()})
}

// proof answers the page's script with the inclusion proof and the
// verifier key.
func (c *Console) proof(x *exchange) error {
	r, err := c.lookup(x)
	if err != nil {
		return err
	}
	p, err := c.b.Prove(x.r.Context(), r.Chain, int64(r.Seq))
	if err != nil {
		return err
	}
	x.w.Header().Set("Content-Type", "application/json")
	x.w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(x.w).Encode(map[string]any{"proof": p, "verifier_key": c.b.VerifierKey()})
}
