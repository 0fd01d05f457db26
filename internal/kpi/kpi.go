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
	var sel []*Release
	for i := range h.Releases {
		r := &h.Releases[i]
		if !selected(r, f) {
			continue
		}
		sel = append(sel, r)
		out.ReleaseIDs = append(out.ReleaseIDs, r.ID)
	}
	byID := newReleaseSet(sel)
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

// gateIndex numbers gates as they are met: a scan of the few gates there
// usually are, a map past that.
type gateIndex struct {
	figs []*shipgate.GateFigure
	m    map[gateKey]int32
}

func (x *gateIndex) of(kind, gate string) int32 {
	if x.m == nil {
		for i, f := range x.figs {
			if f.Name == gate && f.Kind == kind {
				return int32(i)
			}
		}
	} else if i, ok := x.m[gateKey{kind, gate}]; ok {
		return i
	}
	i := int32(len(x.figs))
	x.figs = append(x.figs, &shipgate.GateFigure{Kind: kind, Name: gate, FailedReleases: []int64{}, FlakyReleases: []int64{}})
	if x.m == nil && len(x.figs) > 32 {
		x.m = make(map[gateKey]int32, 64)
		for j, f := range x.figs {
			x.m[gateKey{f.Kind, f.Name}] = int32(j)
		}
	} else if x.m != nil {
		x.m[gateKey{kind, gate}] = i
	}
	return i
}

// onRelease and onDigest name a gate on one release, and on every release
// of one service, environment and artifact sha256.
type onRelease struct {
	gate int32
	id   int64
}

type onDigest struct {
	gate              int32
	service, env, sha string
}

// gates counts outcomes per gate. A failure is flaky when the same gate
// passed later (a later At) on the same release, or on a release of the
// same service, environment and artifact sha256. Only the gates that
// failed somewhere are tracked for passes: failures are the few.
func gates(outcomes []Outcome, byID releaseSet) []shipgate.GateFigure {
	var x gateIndex
	index := make([]int32, len(outcomes)) // -1: not selected
	lastRel := map[onRelease]int64{}      // UnixNano of the latest pass; 0: none yet
	lastDigest := map[onDigest]int64{}
	var failedGate []bool
	for i := range outcomes {
		o := &outcomes[i]
		r := byID.get(o.ReleaseID)
		if r == nil {
			index[i] = -1
			continue
		}
		g := x.of(o.Kind, o.Gate)
		index[i] = g
		if !o.Passed {
			lastRel[onRelease{g, r.ID}] = 0
			lastDigest[onDigest{g, r.Service, r.Environment, r.ArtifactSHA}] = 0
			for int(g) >= len(failedGate) {
				failedGate = append(failedGate, false)
			}
			failedGate[g] = true
		}
	}
	for i := range outcomes {
		o, g := &outcomes[i], index[i]
		if g < 0 || !o.Passed || int(g) >= len(failedGate) || !failedGate[g] {
			continue
		}
		t := o.At.UnixNano()
		if v, ok := lastRel[onRelease{g, o.ReleaseID}]; ok && t > v {
			lastRel[onRelease{g, o.ReleaseID}] = t
		}
		r := byID.get(o.ReleaseID)
		k := onDigest{g, r.Service, r.Environment, r.ArtifactSHA}
		if v, ok := lastDigest[k]; ok && t > v {
			lastDigest[k] = t
		}
	}
	for i := range outcomes {
		o, g := &outcomes[i], index[i]
		if g < 0 {
			continue
		}
		f := x.figs[g]
		if o.Passed {
			f.Passed++
			continue
		}
		f.Failed++
		f.FailedReleases = append(f.FailedReleases, o.ReleaseID)
		t := o.At.UnixNano()
		r := byID.get(o.ReleaseID)
		if lastRel[onRelease{g, r.ID}] > t || lastDigest[onDigest{g, r.Service, r.Environment, r.ArtifactSHA}] > t {
			f.Flaky++
			f.FlakyReleases = append(f.FlakyReleases, o.ReleaseID)
		}
	}
	out := make([]shipgate.GateFigure, 0, len(x.figs))
	for _, g := range x.figs {
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

// releaseSet holds the selected releases by id: a slice indexed from the
// smallest id when ids are dense (they are, from one store), else a map.
type releaseSet struct {
	base  int64
	dense []*Release
	m     map[int64]*Release
}

func newReleaseSet(rs []*Release) releaseSet {
	if len(rs) == 0 {
		return releaseSet{}
	}
	lo, hi := rs[0].ID, rs[0].ID
	for _, r := range rs {
		lo, hi = min(lo, r.ID), max(hi, r.ID)
	}
	if hi-lo < int64(4*len(rs)+1024) {
		s := releaseSet{base: lo, dense: make([]*Release, hi-lo+1)}
		for _, r := range rs {
			s.dense[r.ID-lo] = r
		}
		return s
	}
	s := releaseSet{m: make(map[int64]*Release, len(rs))}
	for _, r := range rs {
		s.m[r.ID] = r
	}
	return s
}

func (s releaseSet) get(id int64) *Release {
	if s.m != nil {
		return s.m[id]
	}
	if i := id - s.base; i >= 0 && i < int64(len(s.dense)) {
		return s.dense[i]
	}
	return nil
}

func waits(ws []Wait, byID releaseSet) shipgate.DurationFigure {
	var d []time.Duration
	var rels []int64
	for _, w := range ws {
		if byID.get(w.ReleaseID) == nil || w.To.Before(w.From) {
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

func canaries(rs []Rollout, byID releaseSet) shipgate.CanaryFigure {
	c := shipgate.CanaryFigure{AbortReasons: []shipgate.AbortReason{}}
	var ds []time.Duration
	var ended, all, aborted []int64
	causes := map[string]*shipgate.AbortReason{}
	for _, ro := range rs {
		if byID.get(ro.ReleaseID) == nil {
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

func judge(ds []Decision, byID releaseSet) []shipgate.JudgeCount {
	type key struct{ metric, judge, verdict string }
	m := map[key]*shipgate.JudgeCount{}
	for _, d := range ds {
		if byID.get(d.ReleaseID) == nil {
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
func rework(rels []int64, byID releaseSet) shipgate.ReworkFigure {
	w := shipgate.ReworkFigure{RollbackReleases: []int64{}, HotfixReleases: []int64{}}
	for _, id := range rels {
		switch r := byID.get(id); {
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

// Truncate keeps the newest n ids (the highest) of each list of release
// ids in k and marks k Truncated if any was longer; counts and rates stay
// whole. The API answers at most n per list, so no request makes the
// server send every id of a busy year.
func Truncate(k *shipgate.GateKPIs, n int) {
	cut := func(s *[]int64) {
		if len(*s) > n {
			*s = (*s)[len(*s)-n:]
			k.Truncated = true
		}
	}
	cut(&k.ReleaseIDs)
	for i := range k.Gates {
		cut(&k.Gates[i].FailedReleases)
		cut(&k.Gates[i].FlakyReleases)
	}
	cut(&k.JobQueue.Releases)
	cut(&k.ReleaseQueue.Releases)
	cut(&k.Canaries.Releases)
	cut(&k.Canaries.AbortedReleases)
	cut(&k.Canaries.Duration.Releases)
	for i := range k.Canaries.AbortReasons {
		cut(&k.Canaries.AbortReasons[i].Releases)
	}
	for i := range k.Judge {
		cut(&k.Judge[i].Releases)
	}
	cut(&k.Rework.RollbackReleases)
	cut(&k.Rework.HotfixReleases)
}
