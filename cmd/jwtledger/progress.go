package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressBar draws the progress of a long command (audit verify, store
// migrate, bench) on stderr. A nil *progressBar draws nothing: progress
// returns nil when stderr is no terminal or --quiet is given.
type progressBar struct {
	c    *cli
	desc string
	bar  *progressbar.ProgressBar
}

func (c *cli) progress(desc string, quiet bool) *progressBar {
	if quiet || !isTerminal(c.stderr) {
		return nil
	}
	return &progressBar{c: c, desc: desc}
}

// update shows done of total; a negative total is unknown, then the bar
// shows the count and the rate.
func (p *progressBar) update(done, total int64) {
	if p == nil {
		return
	}
	if p.bar == nil {
		opts := []progressbar.Option{progressbar.OptionSetWriter(p.c.stderr), progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionClearOnFinish()}
		if total < 0 {
			opts = append(opts, progressbar.OptionShowIts())
		}
		p.bar = progressbar.NewOptions64(total, opts...)
	}
	p.bar.Set64(done)
}

// finish clears the bar.
func (p *progressBar) finish() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}

// isTerminal reports whether w is a terminal (progress bars only go there).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// callback is update, or nil when nothing is drawn.
func (p *progressBar) callback() func(done, total int64) {
	if p == nil {
		return nil
	}
	return p.update
}
