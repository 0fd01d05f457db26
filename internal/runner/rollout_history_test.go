package runner

import (
	"context"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/router"
)

// The slow requests a report counts per version are the sequential
// judge's: each second's requests slower than stable's p90 over the minute
// before, summed since the rollout started.
func TestSlowCountsAreTheJudgesSlowSummed(t *testing.T) {
	tr := newTraffic(nil, "svc", "s", "c")
	at := time.Unix(1e9, 0)
	var st, ca, prevSt, prevCa router.Counters
	var want [2]int64
	var prev sample
	for i := range 90 {
		at = at.Add(time.Second)
		prevSt, prevCa = st, ca
		st = counters(st, 0, map[time.Duration]int{10 * time.Millisecond: 90, 30 * time.Millisecond: 10})
		lat := map[time.Duration]int{10 * time.Millisecond: 5}
		if i >= 60 {
			lat[50*time.Millisecond] = 3 // the canary turns slow after a minute
		}
		ca = counters(ca, 0, lat)
		s := sample{At: at, Stable: st, Canary: ca}
		if i > 0 {
			p := prev
			p.Stable, p.Canary = prevSt, prevCa
			tk := tr.tick(p, s)
			want[0] += int64(tk.Arms[analysis.Stable].Slow)
			want[1] += int64(tk.Arms[analysis.Canary].Slow)
		}
		tr.record(s)
		prev = tr.last
	}
	gotSt, gotCa := tr.slowCounts()
	if gotCa != 90 || gotSt != want[0] || gotCa != want[1] {
		t.Fatalf("slow: stable %d canary %d; the judge's ticks say %v (canary 3 a second for 30 s)", gotSt, gotCa, want)
	}
	if gotSt == 0 {
		t.Fatal("stable's slowest tenth counts nothing")
	}
}

// A running sequential analysis reports its e-values and thresholds with
// every status, and a threshold metric its latest measurement, so the
// server can chart them over time; both leave the reports when they end.
func TestRunningAnalysesReportTheirProgress(t *testing.T) {
	g := newRig(t)
	g.deploy("1.0", nil)
	g.drive(g.front(), 2)
	metric := httpMetric("latency", metricServer(t, "0.5", nil), "result < 1", "")
	metric.Interval, metric.Count = shipgate.Duration(time.Second), 3
	an := &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{Duration: shipgate.Duration(3 * time.Second)}, Metrics: []shipgate.AnalysisMetric{metric}}
	a := g.release("2.0", g.job(canary(setWeight(50), shipgate.CanaryStep{Analysis: an}), nil))
	ch := g.start(context.Background(), a)
	st := g.waitStatus(a.Key, "progress of both parts", func(s shipgate.RolloutStatus) bool {
		var seq, thr bool
		for _, p := range s.Progress {
			seq = seq || (p.Judge == "sequential" && p.Step == 2 && p.Threshold["errors"] > 1 && p.E != nil)
			thr = thr || (p.Judge == "threshold" && p.Metric == "latency" && len(p.Values) == 1 && p.Values[0] == 0.5 && p.Result == shipgate.AnalysisSuccessful)
		}
		return seq && thr
	})
	if len(st.Traffic) == 0 {
		t.Fatalf("status %+v", st)
	}
	if out := g.wait(ch); !out.Succeeded {
		t.Fatalf("outcome %+v", out)
	}
	if last, _ := g.coord.latest(a.Key); last.Phase != shipgate.RolloutPromoted || len(last.Progress) != 0 {
		t.Fatalf("a promoted rollout still reports running analyses: %+v", last.Progress)
	}
}
