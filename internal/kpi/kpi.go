package kpi

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/shipgate/shipgate"
)

// History is what Compute reads. Everything refers to releases by id;
// records of releases not in Releases, or not selected by the filter,
// are ignored.
type History struct {
	Releases []Release
	// Outcomes are gate results: one per job of a run that ended
	// succeeded or failed, per policy decision, per checklist item at its
	// gate, per analysis metric of a rollout attempt.
	Outcomes []Outcome
	// JobWaits are jobs' queued → started; ReleaseWaits releases' queued
	// (or rerun) → started.
	JobWaits     []Wait
	ReleaseWaits []Wait
	Rollouts     []Rollout
	Decisions    []Decision
}

// Release is what the KPIs need of a release.
type Release struct {
	ID          int64
	Service     string
	Environment string
	Team        string // the service's owner group when it was created
	Kind        string // shipgate.ReleaseKindDeploy or ReleaseKindRollback
	ArtifactSHA string
	// Hotfix marks a release created to fix an earlier deployment
	// forward (release create --hotfix: ReleaseContent.HotfixOf).
	Hotfix    bool
	CreatedAt time.Time
}

// Outcome is one gate's result for a release.
type Outcome struct {
	ReleaseID int64
	Kind      string // shipgate.GateKind*
	Gate      string
	Passed    bool
	At        time.Time
}

// Wait is one wait from From to To.
type Wait struct {
	ReleaseID int64
	From, To  time.Time
}

// Rollout is one job attempt's progressive rollout.
type Rollout struct {
	ReleaseID int64
	Started   time.Time
	// Ended is when it completed or aborted; nil while it runs (or when
	// it ended some other way: the job was cancelled or lost).
	Ended   *time.Time
	Aborted bool
	// Cause is why it aborted: "metric NAME" or the agent's reason.
	Cause string
}

// Decision is one analysis decision.
type Decision struct {
	ReleaseID int64
	Metric    string
	Judge     string
	Verdict   string // shipgate.Analysis*
}

// Compute returns the KPIs of the releases h holds that f selects.
func Compute(h *History, f shipgate.KPIFilter) *shipgate.GateKPIs {
	out := &shipgate.GateKPIs{Filter: f, ReleaseIDs: []int64{}, Gates: []shipgate.GateFigure{}, Judge: []shipgate.JudgeCount{}}
	byID := make(map[int64]*Release, len(h.Releases))
	for i := range h.Releases {
		r := &h.Releases[i]
		if !selected(r, f) {
			continue
		}
		byID[r.ID] = r
		out.ReleaseIDs = append(out.ReleaseIDs, r.ID)
	}
	slices.Sort(out.ReleaseIDs)
	out.Releases = len(out.ReleaseIDs)
	out.Gates = gates(h.Outcomes, byID)
	out.JobQueue = waits(h.JobWaits, byID)
	out.ReleaseQueue = waits(h.ReleaseWaits, byID)
	out.Canaries = canaries(h.Rollouts, byID)
	out.Judge = judge(h.Decisions, byID)
	out.Rework = rework(out.ReleaseIDs, byID)
	return out
}

func selected(r *Release, f shipgate.KPIFilter) bool {
	if f.Service != "" && r.Service != f.Service || f.Environment != "" && r.Environment != f.Environment || f.Team != "" && r.Team != f.Team {
		return false
	}
	return !r.CreatedAt.Before(f.Since) && (f.Until.IsZero() || r.CreatedAt.Before(f.Until))
}

type gateKey struct{ kind, gate string }

// passKey names a gate on a release (digest false) or on every release of
// one service, environment and artifact sha256 (digest true), by index.
type passKey struct {
	gate   int32
	digest bool
	id     int64
}

// gates counts outcomes per gate. A failure is flaky when the same gate
// passed later (a later At) on the same release, or on a release of the
// same service, environment and artifact sha256.
func gates(outcomes []Outcome, byID map[int64]*Release) []shipgate.GateFigure {
	gateIdx := map[gateKey]int32{}
	var figs []*shipgate.GateFigure
	type digest struct{ service, env, sha string }
	digestIdx := map[digest]int64{}
	digestOf := make(map[int64]int64, len(byID))
	for id, r := range byID {
		d := digest{r.Service, r.Environment, r.ArtifactSHA}
		n, ok := digestIdx[d]
		if !ok {
			n = int64(len(digestIdx))
			digestIdx[d] = n
		}
		digestOf[id] = n
	}
	index := make([]int32, len(outcomes)) // -1: not selected
	lastPass := map[passKey]int64{}       // UnixNano of the latest pass
	for i := range outcomes {
		o := &outcomes[i]
		if byID[o.ReleaseID] == nil {
			index[i] = -1
			continue
		}
		k := gateKey{o.Kind, o.Gate}
		g, ok := gateIdx[k]
		if !ok {
			g = int32(len(figs))
			gateIdx[k] = g
			figs = append(figs, &shipgate.GateFigure{Kind: o.Kind, Name: o.Gate, FailedReleases: []int64{}, FlakyReleases: []int64{}})
		}
		index[i] = g
		if o.Passed {
			t := o.At.UnixNano()
			for _, pk := range [2]passKey{{g, false, o.ReleaseID}, {g, true, digestOf[o.ReleaseID]}} {
				if v, ok := lastPass[pk]; !ok || t > v {
					lastPass[pk] = t
				}
			}
		}
	}
	for i := range outcomes {
		o, g := &outcomes[i], index[i]
		if g < 0 {
			continue
		}
		f := figs[g]
		if o.Passed {
			f.Passed++
			continue
		}
		f.Failed++
		f.FailedReleases = append(f.FailedReleases, o.ReleaseID)
		t := o.At.UnixNano()
		if passedAfter(lastPass, passKey{g, false, o.ReleaseID}, t) || passedAfter(lastPass, passKey{g, true, digestOf[o.ReleaseID]}, t) {
			f.Flaky++
			f.FlakyReleases = append(f.FlakyReleases, o.ReleaseID)
		}
	}
	out := make([]shipgate.GateFigure, 0, len(figs))
	for _, g := range figs {
		g.FlakinessRate = ratio(g.Flaky, g.Failed)
		g.FailedReleases, g.FlakyReleases = ids(g.FailedReleases), ids(g.FlakyReleases)
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func passedAfter(last map[passKey]int64, k passKey, t int64) bool {
	v, ok := last[k]
	return ok && v > t
}

func waits(ws []Wait, byID map[int64]*Release) shipgate.DurationFigure {
	var d []time.Duration
	var rels []int64
	for _, w := range ws {
		if byID[w.ReleaseID] == nil || w.To.Before(w.From) {
			continue
		}
		d = append(d, w.To.Sub(w.From))
		rels = append(rels, w.ReleaseID)
	}
	return durations(d, rels)
}

// durations summarises ds: nearest-rank p50 and p90 (the smallest value
// at or above that share of the values), and the mean.
func durations(ds []time.Duration, rels []int64) shipgate.DurationFigure {
	f := shipgate.DurationFigure{Count: len(ds), Releases: ids(rels)}
	if len(ds) == 0 {
		return f
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	f.P50, f.P90 = rank(ds, 0.5), rank(ds, 0.9)
	f.Mean = seconds(sum / time.Duration(len(ds)))
	return f
}

func rank(sorted []time.Duration, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return seconds(sorted[max(i, 0)])
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func canaries(rs []Rollout, byID map[int64]*Release) shipgate.CanaryFigure {
	c := shipgate.CanaryFigure{AbortReasons: []shipgate.AbortReason{}}
	var ds []time.Duration
	var ended, all, aborted []int64
	causes := map[string]*shipgate.AbortReason{}
	for _, ro := range rs {
		if byID[ro.ReleaseID] == nil {
			continue
		}
		c.Count++
		all = append(all, ro.ReleaseID)
		if ro.Ended == nil {
			continue
		}
		ds = append(ds, ro.Ended.Sub(ro.Started))
		ended = append(ended, ro.ReleaseID)
		if !ro.Aborted {
			c.Completed++
			continue
		}
		c.Aborted++
		aborted = append(aborted, ro.ReleaseID)
		a := causes[ro.Cause]
		if a == nil {
			a = &shipgate.AbortReason{Cause: ro.Cause}
			causes[ro.Cause] = a
		}
		a.Count++
		a.Releases = append(a.Releases, ro.ReleaseID)
	}
	c.Duration = durations(ds, ended)
	c.AbortRate = ratio(c.Aborted, c.Count)
	c.Releases, c.AbortedReleases = ids(all), ids(aborted)
	for _, a := range causes {
		a.Releases = ids(a.Releases)
		c.AbortReasons = append(c.AbortReasons, *a)
	}
	sort.Slice(c.AbortReasons, func(i, j int) bool {
		a, b := c.AbortReasons[i], c.AbortReasons[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Cause < b.Cause
	})
	return c
}

func judge(ds []Decision, byID map[int64]*Release) []shipgate.JudgeCount {
	type key struct{ metric, judge, verdict string }
	m := map[key]*shipgate.JudgeCount{}
	for _, d := range ds {
		if byID[d.ReleaseID] == nil {
			continue
		}
		k := key{d.Metric, d.Judge, d.Verdict}
		j := m[k]
		if j == nil {
			j = &shipgate.JudgeCount{Metric: d.Metric, Judge: d.Judge, Verdict: d.Verdict}
			m[k] = j
		}
		j.Count++
		j.Releases = append(j.Releases, d.ReleaseID)
	}
	out := make([]shipgate.JudgeCount, 0, len(m))
	for _, j := range m {
		j.Releases = ids(j.Releases)
		out = append(out, *j)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Metric != b.Metric {
			return a.Metric < b.Metric
		}
		if a.Judge != b.Judge {
			return a.Judge < b.Judge
		}
		return a.Verdict < b.Verdict
	})
	return out
}

// rework counts rollbacks and hotfixes; a hotfix rollback counts once,
// as a rollback.
func rework(rels []int64, byID map[int64]*Release) shipgate.ReworkFigure {
	w := shipgate.ReworkFigure{RollbackReleases: []int64{}, HotfixReleases: []int64{}}
	for _, id := range rels {
		switch r := byID[id]; {
		case r.Kind == shipgate.ReleaseKindRollback:
			w.RollbackReleases = append(w.RollbackReleases, id)
		case r.Hotfix:
			w.HotfixReleases = append(w.HotfixReleases, id)
		}
	}
	w.Rollbacks, w.Hotfixes = len(w.RollbackReleases), len(w.HotfixReleases)
	w.Rate = ratio(w.Rollbacks+w.Hotfixes, len(rels))
	return w
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(d)*10000) / 10000
}

// ids sorts and dedupes release ids, never nil (JSON [] not null).
func ids(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	slices.Sort(s)
	return slices.Compact(s)
}
