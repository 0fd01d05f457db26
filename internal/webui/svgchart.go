package webui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Small server-rendered SVG charts for the rollout view. The chart's
// geometry is computed here and drawn by template "svgchart"
// (templates/_rollout.html), so every label goes through html/template's
// escaping. Each chart has a <title> and <desc>, a legend that tells
// series apart by line style and name (not colour alone), and the same
// data as a table for readers who cannot see the image.

// Bounds that keep a page small whatever a rollout's length.
const (
	maxChartPoints = 300 // points drawn per series
	maxTableRows   = 40  // rows of a chart's data table
	chartW, chartH = 640, 220
	plotL, plotR   = 56, 12 // margins inside the viewBox
	plotT, plotB   = 22, 28
)

// chartPoint is one value of a series at a time.
type chartPoint struct {
	At time.Time
	Y  float64
}

// chartSeries is one line of a chart.
type chartSeries struct {
	Name   string
	Points []chartPoint
	// Note, when set, is shown beside each of the series' values in the
	// table (a measurement's result).
	Notes []string
}

// chartRule is a horizontal line drawn across the plot (a threshold).
type chartRule struct {
	Y     float64
	Label string
}

// chartSpec is what a chart shows before it is laid out.
type chartSpec struct {
	ID, Title, Desc, YLabel string
	Log                     bool // log10 y axis (e-values)
	Step                    bool // draw as steps (a weight holds until it changes)
	// Dates labels the x axis with the points' dates (weekly trends)
	// instead of offsets from the start, and marks each point.
	Dates      bool
	YMin, YMax *float64
	Series     []chartSeries
	Rules      []chartRule
	Format     func(float64) string
}

// svgChart is a laid-out chart, ready for template "svgchart".
type svgChart struct {
	ID, Title, Desc, YLabel string
	W, H                    int
	X0, X1, Y0, Y1          float64 // the plot area
	XTicks, YTicks          []svgTick
	Series                  []svgSeries
	Rules                   []svgRule
	Head                    []string
	Rows                    [][]string
	Empty                   bool
}

type svgTick struct {
	Pos    float64
	Label  string
	Anchor string // text-anchor of an x tick's label: the last ends at the axis
}

type svgSeries struct {
	Name   string
	Class  string // line style: s0 … s5 (dash patterns as well as colours)
	Points string // polyline points
	Dots   []svgDot
}

// svgDot marks one point of a series (Dates charts: a lone week is
// visible).
type svgDot struct{ X, Y float64 }

type svgRule struct {
	Y     float64
	Label string
}

// chartDownsample keeps at most n points, evenly by index, always the first
// and the last.
func chartDownsample(ps []chartPoint, n int) []chartPoint {
	if len(ps) <= n || n < 2 {
		return ps
	}
	out := make([]chartPoint, 0, n)
	for i := range n {
		out = append(out, ps[i*(len(ps)-1)/(n-1)])
	}
	return out
}

// layout turns a spec into a chart.
func (sp chartSpec) layout() *svgChart {
	c := &svgChart{ID: sp.ID, Title: sp.Title, Desc: sp.Desc, YLabel: sp.YLabel, W: chartW, H: chartH,
		X0: plotL, X1: chartW - plotR, Y0: plotT, Y1: chartH - plotB}
	format := sp.Format
	if format == nil {
		format = chartNumber
	}
	var tMin, tMax time.Time
	yMin, yMax := math.Inf(1), math.Inf(-1)
	yv := func(y float64) float64 {
		if sp.Log {
			return math.Log10(math.Max(y, 1e-3))
		}
		return y
	}
	for _, s := range sp.Series {
		for _, p := range s.Points {
			if tMin.IsZero() || p.At.Before(tMin) {
				tMin = p.At
			}
			if p.At.After(tMax) {
				tMax = p.At
			}
			yMin, yMax = math.Min(yMin, yv(p.Y)), math.Max(yMax, yv(p.Y))
		}
	}
	if tMin.IsZero() {
		c.Empty = true
		return c
	}
	for _, r := range sp.Rules {
		yMin, yMax = math.Min(yMin, yv(r.Y)), math.Max(yMax, yv(r.Y))
	}
	if sp.YMin != nil {
		yMin = yv(*sp.YMin)
	} else if !sp.Log {
		yMin = math.Min(yMin, 0)
	}
	if sp.YMax != nil {
		yMax = yv(*sp.YMax)
	}
	if yMax <= yMin {
		yMax = yMin + 1
	}
	span := tMax.Sub(tMin)
	if span <= 0 {
		span = time.Second
	}
	px := func(t time.Time) float64 {
		return chartRound(c.X0 + (c.X1-c.X0)*float64(t.Sub(tMin))/float64(span))
	}
	py := func(y float64) float64 {
		return chartRound(c.Y1 - (c.Y1-c.Y0)*(yv(y)-yMin)/(yMax-yMin))
	}
	// Axes: five time ticks as offsets from the start, and y ticks at
	// round values (powers of ten on a log axis).
	if sp.Dates {
		c.XTicks = dateTicks(sp.Series, px)
	}
	for i := range 5 {
		if sp.Dates {
			break
		}
		t := tMin.Add(span * time.Duration(i) / 4)
		anchor := "middle"
		if i == 4 {
			anchor = "end"
		}
		c.XTicks = append(c.XTicks, svgTick{Pos: px(t), Label: "+" + chartDuration(t.Sub(tMin)), Anchor: anchor})
	}
	if sp.Log {
		for e := math.Floor(yMin); e <= math.Ceil(yMax); e++ {
			if e >= yMin && e <= yMax {
				c.YTicks = append(c.YTicks, svgTick{Pos: py(math.Pow(10, e)), Label: chartNumber(math.Pow(10, e))})
			}
		}
	} else {
		step := chartNiceStep((yMax - yMin) / 4)
		for y := math.Ceil(yMin/step) * step; y <= yMax+step/1e6; y += step {
			c.YTicks = append(c.YTicks, svgTick{Pos: py(y), Label: format(y)})
		}
	}
	for i, s := range sp.Series {
		ps := chartDownsample(s.Points, maxChartPoints)
		var b strings.Builder
		for j, p := range ps {
			x, y := px(p.At), py(p.Y)
			if sp.Step && j > 0 && ps[j-1].Y != p.Y {
				fmt.Fprintf(&b, "%s,%s ", chartNum(x), chartNum(py(ps[j-1].Y)))
			}
			fmt.Fprintf(&b, "%s,%s ", chartNum(x), chartNum(y))
		}
		ser := svgSeries{Name: s.Name, Class: fmt.Sprintf("s%d", i%6), Points: strings.TrimSpace(b.String())}
		if sp.Dates {
			for _, p := range ps {
				ser.Dots = append(ser.Dots, svgDot{X: px(p.At), Y: py(p.Y)})
			}
		}
		c.Series = append(c.Series, ser)
	}
	// Rules at the same height are one line with their labels joined.
	for _, r := range sp.Rules {
		y := py(r.Y)
		if n := len(c.Rules); n > 0 && c.Rules[n-1].Y == y {
			c.Rules[n-1].Label += "; " + r.Label
			continue
		}
		c.Rules = append(c.Rules, svgRule{Y: y, Label: r.Label})
	}
	c.Head, c.Rows = sp.table(tMin, format)
	return c
}

// table is the chart's data as rows: time, then each series' value at or
// before that time (with its note), at most maxTableRows rows.
func (sp chartSpec) table(tMin time.Time, format func(float64) string) ([]string, [][]string) {
	head := []string{"Time (UTC)"}
	var times []time.Time
	seen := map[time.Time]bool{}
	for _, s := range sp.Series {
		head = append(head, s.Name)
		for _, p := range s.Points {
			if !seen[p.At] {
				seen[p.At] = true
				times = append(times, p.At)
			}
		}
	}
	chartSortTimes(times)
	if len(times) > maxTableRows {
		keep := make([]time.Time, 0, maxTableRows)
		for i := range maxTableRows {
			keep = append(keep, times[i*(len(times)-1)/(maxTableRows-1)])
		}
		times = keep
	}
	rows := make([][]string, 0, len(times))
	idx := make([]int, len(sp.Series))
	for _, t := range times {
		row := []string{t.UTC().Format("15:04:05") + " (+" + chartDuration(t.Sub(tMin)) + ")"}
		for i, s := range sp.Series {
			for idx[i]+1 < len(s.Points) && !s.Points[idx[i]+1].At.After(t) {
				idx[i]++
			}
			cell := "–"
			if len(s.Points) > 0 && !s.Points[idx[i]].At.After(t) {
				cell = format(s.Points[idx[i]].Y)
				if idx[i] < len(s.Notes) && s.Notes[idx[i]] != "" {
					cell += " (" + s.Notes[idx[i]] + ")"
				}
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	return head, rows
}

// dateTicks labels the x axis with the points' dates, at most seven
// labels evenly chosen, the last one ending at the axis.
func dateTicks(series []chartSeries, px func(time.Time) float64) []svgTick {
	var times []time.Time
	seen := map[time.Time]bool{}
	for _, s := range series {
		for _, p := range s.Points {
			if !seen[p.At] {
				seen[p.At] = true
				times = append(times, p.At)
			}
		}
	}
	chartSortTimes(times)
	step := (len(times) + 6) / 7
	var out []svgTick
	for i := 0; i < len(times); i += step {
		anchor := "middle"
		switch {
		case len(times) == 1:
			anchor = "start"
		case i == 0:
			anchor = "start"
		case i+step >= len(times) && i == len(times)-1:
			anchor = "end"
		}
		out = append(out, svgTick{Pos: px(times[i]), Label: times[i].UTC().Format("2 Jan"), Anchor: anchor})
	}
	return out
}

func chartSortTimes(ts []time.Time) {
	// Insertion sort: the series are each in time order already, so the
	// merged list is nearly sorted.
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

func chartRound(f float64) float64 { return math.Round(f*10) / 10 }

func chartNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// chartNiceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func chartNiceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// chartNumber prints a number briefly: integers as such, others with
// three significant digits, large ones with k/M.
func chartNumber(f float64) string {
	a := math.Abs(f)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(f/1e6, 'g', 3, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(f/1e3, 'g', 3, 64) + "k"
	case f == math.Trunc(f):
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', 3, 64)
}

func chartPercent(f float64) string { return chartNumber(f) + " %" }

// chartDuration is a duration as a person reads an axis: 45s, 3m10s, 1h5m.
func chartDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
