package dora

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Causes of a change failure, as Failure.Causes lists them.
const (
	CauseReleaseFailed  = "release_failed" // a deployment that served traffic failed a job
	CauseRollback       = "rollback"       // a rollback of it fired (policy or a person)
	CauseHealthGate     = "health_gate"    // a health probe failed on it
	CauseCanaryAborted  = "canary_aborted" // its canary was aborted
	CauseFlagKill       = "flag_kill"      // a kill switch turned a flag off while it was live
	CauseFlagMitigation = "flag_mitigation"
	CauseHotfix         = "hotfix" // a later release marked --hotfix fixes it
)

// Means of recovery, as Failure.RecoveredBy names them.
const (
	RecoveredByRollback       = "rollback"
	RecoveredByCanaryAbort    = "canary_abort"
	RecoveredByFlagKill       = "flag_kill"
	RecoveredByFlagMitigation = "flag_mitigation"
	RecoveredByFixForward     = "fix_forward"
	RecoveredByRedeploy       = "redeploy"
)

// deploy is a release judged a deployment, with its failure if it caused one.
type deploy struct {
	r       *Release
	at      time.Time
	failure *Failure
}

type target struct{ service, env string }

// Compute applies docs/metrics.md's definitions to h over q's window. It
// reads nothing at or after q.Until, so the same history gives the same
// report for a window that has ended.
func Compute(h History, q Query) Report {
	if q.Bucket == "" {
		q.Bucket = Week
	}
	rels, sigs := clip(h, q.Until)
	ix := newIndex(rels)
	attributed := attribute(sigs, ix)

	// Which releases are deployments, and when.
	deploys := map[int64]*deploy{}
	var attempts []*Release
	for i := range rels {
		r := &rels[i]
		switch {
		case r.SucceededAt != nil:
			deploys[r.ID] = &deploy{r: r, at: *r.SucceededAt}
		case r.FailedAt != nil && (r.ServedTraffic || len(attributed[r.ID]) > 0 || len(ix.hotfixes[r.ID]) > 0):
			deploys[r.ID] = &deploy{r: r, at: *r.FailedAt}
		case r.FailedAt != nil:
			attempts = append(attempts, r)
		}
	}
	// Which deployments failed, when that was detected.
	for _, d := range deploys {
		d.failure = failureOf(d, attributed[d.r.ID], ix)
	}
	// How each failure was recovered.
	bySvcEnv := map[target][]*deploy{}
	for _, d := range deploys {
		k := target{d.r.Service, d.r.Environment}
		bySvcEnv[k] = append(bySvcEnv[k], d)
	}
	for _, ds := range bySvcEnv {
		sort.Slice(ds, func(i, j int) bool {
			return ds[i].at.Before(ds[j].at) || ds[i].at.Equal(ds[j].at) && ds[i].r.ID < ds[j].r.ID
		})
	}
	for _, d := range deploys {
		if d.failure != nil {
			recoverFailure(d, attributed[d.r.ID], ix, bySvcEnv[target{d.r.Service, d.r.Environment}])
		}
	}

	// Select and report.
	match := func(r *Release) bool {
		return (q.Service == "" || r.Service == q.Service) && (q.Environment == "" || r.Environment == q.Environment) && (q.Team == "" || r.Team == q.Team)
	}
	var sel []*deploy
	for _, d := range deploys {
		if match(d.r) {
			sel = append(sel, d)
		}
	}
	sort.Slice(sel, func(i, j int) bool {
		return sel[i].at.Before(sel[j].at) || sel[i].at.Equal(sel[j].at) && sel[i].r.ID < sel[j].r.ID
	})
	var selAttempts []*Release
	for _, r := range attempts {
		if match(r) {
			selAttempts = append(selAttempts, r)
		}
	}
	sort.Slice(selAttempts, func(i, j int) bool { return selAttempts[i].FailedAt.Before(*selAttempts[j].FailedAt) })

	rep := Report{Since: q.Since, Until: q.Until, Service: q.Service, Environment: q.Environment, Team: q.Team, Bucket: string(q.Bucket),
		Deployments: []Deployment{}, Failures: []Failure{}, FailedAttempts: []int64{}, Breakdown: []Breakdown{}, Trend: []Trend{}}
	rep.Totals = metrics(sel, selAttempts, q.Since, q.Until)
	for _, d := range sel {
		if in(d.at, q.Since, q.Until) {
			rep.Deployments = append(rep.Deployments, deployment(d))
		}
	}
	for _, d := range byDetection(sel) {
		if in(d.failure.DetectedAt, q.Since, q.Until) {
			rep.Failures = append(rep.Failures, *d.failure)
		}
	}
	for _, r := range selAttempts {
		if in(*r.FailedAt, q.Since, q.Until) {
			rep.FailedAttempts = append(rep.FailedAttempts, r.ID)
		}
	}
	if n := q.MaxList; n > 0 {
		if len(rep.Deployments) > n || len(rep.Failures) > n || len(rep.FailedAttempts) > n {
			rep.Truncated = true
		}
		rep.Deployments, rep.Failures, rep.FailedAttempts = newest(rep.Deployments, n), newest(rep.Failures, n), newest(rep.FailedAttempts, n)
	}
	rep.Breakdown = breakdown(sel, selAttempts, q)
	rep.Trend = trend(sel, selAttempts, q)
	return rep
}

// MaxBuckets bounds a report's trend; the API refuses windows with more.
const MaxBuckets = 400

// clip copies h without anything that happened at or after until.
func clip(h History, until time.Time) ([]Release, []Signal) {
	cut := func(t *time.Time) *time.Time {
		if t == nil || !t.Before(until) {
			return nil
		}
		return t
	}
	rels := make([]Release, 0, len(h.Releases))
	for _, r := range h.Releases {
		if !r.CreatedAt.Before(until) {
			continue
		}
		r.ApprovedAt, r.StartedAt, r.SucceededAt, r.FailedAt = cut(r.ApprovedAt), cut(r.StartedAt), cut(r.SucceededAt), cut(r.FailedAt)
		rels = append(rels, r)
	}
	sigs := make([]Signal, 0, len(h.Signals))
	for _, s := range h.Signals {
		if s.At.Before(until) {
			sigs = append(sigs, s)
		}
	}
	sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].At.Before(sigs[j].At) })
	return rels, sigs
}

// index finds releases by id, the rollbacks and hotfixes of each, and the
// successes of each service and environment in time order.
type index struct {
	byID      map[int64]*Release
	rollbacks map[int64][]*Release // by RollbackOf
	hotfixes  map[int64][]*Release // by HotfixOf
	succeeded map[target][]*Release
}

func newIndex(rels []Release) *index {
	ix := &index{byID: make(map[int64]*Release, len(rels)), rollbacks: map[int64][]*Release{}, hotfixes: map[int64][]*Release{}, succeeded: map[target][]*Release{}}
	for i := range rels {
		r := &rels[i]
		ix.byID[r.ID] = r
		if r.RollbackOf != 0 {
			ix.rollbacks[r.RollbackOf] = append(ix.rollbacks[r.RollbackOf], r)
		}
		// A hotfix counts once it ran (before until): one cancelled or
		// rejected before it ran is nothing, like any such release, and
		// must not mark the release it names failed.
		if r.HotfixOf != 0 && (r.StartedAt != nil || r.SucceededAt != nil || r.FailedAt != nil) {
			ix.hotfixes[r.HotfixOf] = append(ix.hotfixes[r.HotfixOf], r)
		}
		if r.SucceededAt != nil {
			k := target{r.Service, r.Environment}
			ix.succeeded[k] = append(ix.succeeded[k], r)
		}
	}
	for _, rs := range ix.succeeded {
		sort.Slice(rs, func(i, j int) bool {
			return rs[i].SucceededAt.Before(*rs[j].SucceededAt) || rs[i].SucceededAt.Equal(*rs[j].SucceededAt) && rs[i].ID < rs[j].ID
		})
	}
	return ix
}

// attribute assigns each signal to the release it is about: the release it
// names; for a kill that names none, the newest release of that service
// and environment that declared the flag and succeeded before the kill,
// else the version live there at the kill (the newest success before it).
func attribute(sigs []Signal, ix *index) map[int64][]Signal {
	out := map[int64][]Signal{}
	for _, s := range sigs {
		id := s.Release
		if id != 0 {
			if r, ok := ix.byID[id]; !ok || s.Service != "" && r.Service != s.Service {
				continue
			}
		} else if s.Kind == SignalFlagKill || s.Kind == SignalFlagMitigation {
			id = ix.killTarget(s)
		}
		if id != 0 {
			out[id] = append(out[id], s)
		}
	}
	return out
}

func (ix *index) killTarget(s Signal) int64 {
	rs := ix.succeeded[target{s.Service, s.Environment}]
	// The successes at or before the kill: rs[:n].
	n := sort.Search(len(rs), func(i int) bool { return rs[i].SucceededAt.After(s.At) })
	for i := n - 1; i >= 0; i-- {
		if slices.Contains(rs[i].Flags, s.Flag) {
			return rs[i].ID
		}
	}
	if n > 0 {
		return rs[n-1].ID
	}
	return 0
}

// failureOf returns d's failure, or nil when nothing says it failed.
func failureOf(d *deploy, sigs []Signal, ix *index) *Failure {
	var causes []string
	var detected time.Time
	note := func(cause string, at time.Time) {
		if !slices.Contains(causes, cause) {
			causes = append(causes, cause)
		}
		if detected.IsZero() || at.Before(detected) {
			detected = at
		}
	}
	r := d.r
	if r.SucceededAt == nil && r.FailedAt != nil {
		note(CauseReleaseFailed, *r.FailedAt)
	}
	for _, s := range sigs {
		switch s.Kind {
		case SignalRollback:
			note(CauseRollback, s.At)
		case SignalHealthGate:
			note(CauseHealthGate, s.At)
		case SignalCanaryAborted:
			note(CauseCanaryAborted, s.At)
		case SignalFlagKill:
			note(CauseFlagKill, s.At)
		case SignalFlagMitigation:
			note(CauseFlagMitigation, s.At)
		}
	}
	for _, o := range ix.rollbacks[r.ID] {
		note(CauseRollback, o.CreatedAt)
	}
	for _, o := range ix.hotfixes[r.ID] {
		note(CauseHotfix, o.CreatedAt)
	}
	if len(causes) == 0 {
		return nil
	}
	sort.Strings(causes)
	return &Failure{Release: r.ID, Service: r.Service, Environment: r.Environment, Version: r.Version, Causes: causes, DetectedAt: detected}
}

// recoverFailure finds the earliest moment at or after the failure's detection
// when its service and environment ran a good version again.
func recoverFailure(d *deploy, sigs []Signal, ix *index, sameTarget []*deploy) {
	f := d.failure
	var at time.Time
	var by string
	var with int64
	offer := func(t time.Time, means string, rel int64) {
		if t.Before(f.DetectedAt) {
			return
		}
		if at.IsZero() || t.Before(at) {
			at, by, with = t, means, rel
		}
	}
	for _, s := range sigs {
		switch s.Kind {
		case SignalCanaryAborted:
			offer(s.At, RecoveredByCanaryAbort, 0)
		case SignalFlagKill:
			offer(s.At, RecoveredByFlagKill, 0)
		case SignalFlagMitigation:
			offer(s.At, RecoveredByFlagMitigation, 0)
		}
	}
	for _, o := range ix.rollbacks[d.r.ID] {
		if o.SucceededAt != nil {
			offer(*o.SucceededAt, RecoveredByRollback, o.ID)
		}
	}
	for _, o := range ix.hotfixes[d.r.ID] {
		if o.SucceededAt != nil {
			offer(*o.SucceededAt, RecoveredByFixForward, o.ID)
		}
	}
	// Else the first good version to succeed there at or after the
	// detection: one whose own failure was not detected by the time it
	// took over.
	from := sort.Search(len(sameTarget), func(i int) bool { return !sameTarget[i].at.Before(f.DetectedAt) })
	for _, n := range sameTarget[from:] {
		if n.r.ID == d.r.ID || n.r.SucceededAt == nil || n.r.RollbackOf == d.r.ID || n.r.HotfixOf == d.r.ID {
			continue
		}
		if n.failure != nil && !n.failure.DetectedAt.After(*n.r.SucceededAt) {
			continue
		}
		means := RecoveredByRedeploy
		if n.r.Kind == "rollback" {
			means = RecoveredByRollback
		}
		offer(*n.r.SucceededAt, means, n.r.ID)
		break
	}
	if at.IsZero() {
		return
	}
	f.RecoveredAt, f.RecoveredBy, f.RecoveredWith = &at, by, with
	secs := at.Sub(f.DetectedAt).Seconds()
	f.RecoverySeconds = &secs
}

func in(t, since, until time.Time) bool { return !t.Before(since) && t.Before(until) }

func byDetection(ds []*deploy) []*deploy {
	var out []*deploy
	for _, d := range ds {
		if d.failure != nil {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].failure.DetectedAt, out[j].failure.DetectedAt
		return a.Before(b) || a.Equal(b) && out[i].r.ID < out[j].r.ID
	})
	return out
}

func reworkOf(r *Release) string {
	switch {
	case r.Kind == "rollback":
		return "rollback"
	case r.HotfixOf != 0:
		return "hotfix"
	}
	return ""
}

func deployment(d *deploy) Deployment {
	out := Deployment{Release: d.r.ID, Service: d.r.Service, Environment: d.r.Environment, Version: d.r.Version, At: d.at, Rework: reworkOf(d.r), Failed: d.failure != nil}
	if d.r.Kind != "rollback" && d.r.CommittedAt != nil && d.r.SucceededAt != nil {
		s := math.Max(0, d.r.SucceededAt.Sub(*d.r.CommittedAt).Seconds())
		out.LeadSeconds = &s
	}
	return out
}

// newest keeps the last n of xs (lists are oldest first).
func newest[T any](xs []T, n int) []T {
	if len(xs) > n {
		return xs[len(xs)-n:]
	}
	return xs
}
