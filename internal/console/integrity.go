package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// verifyJob is the audit verification the integrity page runs in the
// background, one at a time per node. Its last result is kept in memory
// (a restart forgets it; `jwtledger audit verify` is unaffected).
type verifyJob struct {
	mu          sync.Mutex
	running     bool
	done, total int64
	started     time.Time
	finished    time.Time
	by          string
	report      *Report
	err         string
}

type verifyState struct {
	Running  bool      `json:"running"`
	Done     int64     `json:"done"`
	Total    int64     `json:"total"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	By       string    `json:"by"`
	OK       *bool     `json:"ok"`
	Damage   int       `json:"damage"`
	Error    string    `json:"error,omitempty"`
	report   *Report
}

func (j *verifyJob) state() verifyState {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := verifyState{Running: j.running, Done: j.done, Total: j.total, Started: j.started, Finished: j.finished, By: j.by, Error: j.err, report: j.report}
	if j.report != nil && !j.running {
		ok := j.report.OK
		s.OK, s.Damage = &ok, len(j.report.Damage)
	}
	return s
}

// startVerify starts a verification unless one is running.
func (c *Console) startVerify(x *exchange) error {
	j := &c.verify
	j.mu.Lock()
	if j.running {
		j.mu.Unlock()
		http.Redirect(x.w, x.r, c.prefix+"/integrity", http.StatusSeeOther)
		return nil
	}
	j.running, j.done, j.total, j.started, j.by, j.err = true, 0, 0, c.now(), x.client.ID, ""
	j.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		go func() {
			select {
			case <-c.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		rep, err := c.b.VerifyAudit(ctx, func(done, total int64) {
			j.mu.Lock()
			j.done, j.total = done, total
			j.mu.Unlock()
		})
		j.mu.Lock()
		defer j.mu.Unlock()
		j.running, j.finished = false, c.now()
		if err != nil {
			c.log.Warn("console: audit verification failed", "err", err)
			j.err = "verification could not read the ledger"
			return
		}
		j.report = rep
	}()
	http.Redirect(x.w, x.r, c.prefix+"/integrity", http.StatusSeeOther)
	return nil
}

func (c *Console) verifyStatus(x *exchange) error {
	x.w.Header().Set("Content-Type", "application/json")
	x.w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(x.w).Encode(c.verify.state())
}

type checkpointRow struct {
	ChainStatus
	Newest *Checkpoint
	Count  int
}

type integrityData struct {
	Key    string
	Chains []checkpointRow
	Job    verifyState
	Report *Report
	Kinds  []string
}

// damageKinds are the kinds a verification reports.
var damageKinds = []string{"modified", "missing", "reordered", "truncated", "bad_signature", "fork"}

func (c *Console) integrity(x *exchange) error {
	ctx := x.r.Context()
	chains, err := c.b.Chains(ctx)
	if err != nil {
		return err
	}
	d := &integrityData{Key: c.b.VerifierKey(), Job: c.verify.state(), Kinds: damageKinds}
	d.Report = d.Job.report
	for _, ch := range chains {
		cps, err := c.b.Checkpoints(ctx, ch.Chain)
		if err != nil {
			return err
		}
		row := checkpointRow{ChainStatus: ch, Count: len(cps)}
		if len(cps) > 0 {
			row.Newest = &cps[len(cps)-1]
		}
		d.Chains = append(d.Chains, row)
	}
	return x.ok("integrity", "integrity.title", d)
}
