package console

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// Charts are SVG drawn here, on the server: no chart library and no
// script; colours come from the style sheet (classes), so they follow the
// light or dark scheme.

// series is one stacked layer of a chart.
type series struct {
	Class  string // CSS class of its colour, "c-" + a sanitized name
	Label  string
	Values []int64 // one per bucket
}

// chart is a stacked bar chart over time buckets.
type chart struct {
	ID      string
	Title   string
	Buckets []time.Time
	Step    time.Duration
	Series  []series
}

const (
	chartW, chartH = 720, 200
	padL, padB     = 44, 22
)

// cssClass makes a class name of an event or outcome.
func cssClass(s string) string {
	var b strings.Builder
	b.WriteString("c-")
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// SVG renders the chart, with a <title> per bar for pointers and screen
// readers.
func (ch *chart) SVG() template.HTML {
	n := len(ch.Buckets)
	var maxV int64 = 1
	totals := make([]int64, n)
	for i := range n {
		for _, s := range ch.Series {
			totals[i] += s.Values[i]
		}
		maxV = max(maxV, totals[i])
	}
	maxV = niceMax(maxV)
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t"><title id="%s-t">%s</title>`, chartW, chartH, ch.ID, ch.ID, esc(ch.Title))
	plotW, plotH := float64(chartW-padL-4), float64(chartH-padB-6)
	// Grid lines and the y axis at 0, half and the top.
	for _, f := range []float64{0, 0.5, 1} {
		y := 6 + plotH*(1-f)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-4, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-4, y+4, compact(int64(f*float64(maxV))))
	}
	if n > 0 {
		bw := plotW / float64(n)
		gap := min(bw*0.15, 2)
		for i, t := range ch.Buckets {
			x := float64(padL) + float64(i)*bw
			y := 6 + plotH
			for _, s := range ch.Series {
				v := s.Values[i]
				if v == 0 {
					continue
				}
				h := plotH * float64(v) / float64(maxV)
				y -= h
				fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s %s: %d</title></rect>`,
					s.Class, x+gap/2, y, bw-gap, h, esc(t.UTC().Format("2006-01-02 15:04")), esc(s.Label), v)
			}
		}
		// First, middle and last bucket on the x axis (UTC).
		layout := "15:04"
		if ch.Step >= time.Hour {
			layout = "01-02 15:04"
		}
		for _, i := range []int{0, n / 2, n - 1} {
			x := float64(padL) + (float64(i)+0.5)*bw
			anchor := "middle"
			switch i {
			case 0:
				anchor = "start"
			case n - 1:
				anchor = "end"
			}
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, chartH-6, anchor, ch.Buckets[i].UTC().Format(layout))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// bars draws a histogram: one bar per bucket label.
func bars(id, title string, labels []string, values []uint64) template.HTML {
	var maxV uint64 = 1
	for _, v := range values {
		maxV = max(maxV, v)
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	const w, h = 360, 140
	fmt.Fprintf(&b, `<svg class="chart small" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t"><title id="%s-t">%s</title>`, w, h, id, id, esc(title))
	n := len(values)
	bw := float64(w-8) / float64(max(n, 1))
	for i, v := range values {
		bh := float64(h-34) * float64(v) / float64(maxV)
		x := 4 + float64(i)*bw
		fmt.Fprintf(&b, `<rect class="c-bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`, x+1, float64(h-22)-bh, bw-2, bh, esc(labels[i]), v)
		if i%2 == 0 || n <= 8 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+bw/2, h-8, esc(labels[i]))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v int64) int64 {
	p := int64(1)
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return v
}

// compact writes 1200 as 1.2k.
func compact(v int64) string {
	switch {
	case v >= 10_000_000:
		return strconv.FormatInt(v/1_000_000, 10) + "M"
	case v >= 1_000_000:
		return strconv.FormatFloat(float64(v)/1e6, 'f', 1, 64) + "M"
	case v >= 10_000:
		return strconv.FormatInt(v/1000, 10) + "k"
	case v >= 1000:
		return strconv.FormatFloat(float64(v)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatInt(v, 10)
}
