package dora

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday

func at(h float64) *time.Time {
	t := t0.Add(time.Duration(h * float64(time.Hour)))
	return &t
}

// rel is a deploy of web to production created at hour c that succeeded at
// hour s (s < 0: never).
func rel(id int64, c, s float64) Release {
	r := Release{ID: id, Service: "web", Environment: "production", Team: "payments", Version: "v" + string(rune('0'+id%10)), Kind: "deploy", CreatedAt: *at(c)}
	if s >= 0 {
		r.SucceededAt = at(s)
	}
	return r
}

func week() Query { return Query{Since: t0, Until: t0.Add(7 * 24 * time.Hour)} }

func f(v float64) *float64 { return &v }

func eqp(a, b *float64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func failure(t *testing.T, rep Report, id int64) Failure {
	t.Helper()
	for _, f := range rep.Failures {
		if f.Release == id {
			return f
		}
	}
	t.Fatalf("release %d is not among the failures %+v", id, rep.Failures)
	return Failure{}
}

func TestNoDeploymentsIsNotANumber(t *testing.T) {
	rep := Compute(History{}, week())
	m := rep.Totals
	if m.Deployments != 0 || m.ChangeFailRate != nil || m.ReworkRate != nil || m.LeadTime.CommitToSucceeded.P50 != nil || m.RecoveryTime.P90 != nil {
		t.Fatalf("empty history: %+v", m)
	}
	if len(rep.Trend) != 1 || rep.Deployments == nil || rep.Failures == nil || rep.Breakdown == nil {
		t.Fatalf("empty history trend %d, lists %v %v %v", len(rep.Trend), rep.Deployments, rep.Failures, rep.Breakdown)
	}
}

func TestDeploymentFrequencyAndLeadTime(t *testing.T) {
	var h History
	for i := int64(1); i <= 10; i++ {
		r := rel(i, float64(i*10), float64(i*10)+2)
		r.CommittedAt = at(float64(i*10) - float64(i)) // lead = i+2 hours
		r.ApprovedAt = at(float64(i*10) + 1)
		r.StartedAt = at(float64(i*10) + 1.5)
		h.Releases = append(h.Releases, r)
	}
	noCommit := rel(11, 120, 121)
	h.Releases = append(h.Releases, noCommit)
	rep := Compute(h, week())
	m := rep.Totals
	if m.Deployments != 11 || m.DeploymentsPerWeek != 11 || m.DeploymentsPerDay != 11.0/7 {
		t.Fatalf("frequency: %d, %v/week, %v/day", m.Deployments, m.DeploymentsPerWeek, m.DeploymentsPerDay)
	}
	lt := m.LeadTime
	// Leads are 3..12 hours: nearest-rank p50 is the 5th (7h), p90 the 9th (11h).
	if lt.CommitToSucceeded.N != 10 || *lt.CommitToSucceeded.P50 != 7*3600 || *lt.CommitToSucceeded.P90 != 11*3600 || lt.WithoutCommitTime != 1 {
		t.Fatalf("lead time %+v p50 %v p90 %v", lt, *lt.CommitToSucceeded.P50, *lt.CommitToSucceeded.P90)
	}
	if *lt.CreatedToApproved.P50 != 3600 || *lt.ApprovedToStarted.P50 != 1800 || *lt.StartedToSucceeded.P50 != 1800 || lt.CreatedToSucceeded.N != 11 {
		t.Fatalf("stages %+v", lt)
	}
	if m.ChangeFailRate == nil || *m.ChangeFailRate != 0 || *m.ReworkRate != 0 {
		t.Fatalf("no failures: cfr %v rework %v", m.ChangeFailRate, m.ReworkRate)
	}
}

func TestRollbackIsAFailureAndItsRecovery(t *testing.T) {
	good := rel(1, 0, 1)
	bad := rel(2, 10, 11)
	rb := rel(3, 12, 13)
	rb.Kind, rb.RollbackOf = "rollback", 2
	rb.CommittedAt = at(-100) // a rollback's restored commit is no lead time
	h := History{Releases: []Release{good, bad, rb}, Signals: []Signal{{At: *at(11.5), Kind: SignalRollback, Release: 2, Service: "web", Environment: "production", By: "user"}}}
	rep := Compute(h, week())
	m := rep.Totals
	if m.Deployments != 3 || m.FailedDeployments != 1 || *m.ChangeFailRate != 1.0/3 || m.Rework != 1 || *m.ReworkRate != 1.0/3 {
		t.Fatalf("totals %+v", m)
	}
	if m.LeadTime.CommitToSucceeded.N != 0 || m.LeadTime.WithoutCommitTime != 2 {
		t.Fatalf("a rollback release has no lead time: %+v", m.LeadTime)
	}
	fl := failure(t, rep, 2)
	if !slices.Equal(fl.Causes, []string{CauseRollback}) || !fl.DetectedAt.Equal(*at(11.5)) || fl.RecoveredBy != RecoveredByRollback || fl.RecoveredWith != 3 || *fl.RecoverySeconds != 1.5*3600 {
		t.Fatalf("failure %+v", fl)
	}
	if m.Recovered != 1 || *m.RecoveryTime.P50 != 1.5*3600 {
		t.Fatalf("recovery %+v", m.RecoveryTime)
	}
}

func TestRollbackOfARollback(t *testing.T) {
	// v1 good; v2 bad, rolled back by 3 (restores v1); 3 is bad too and is
	// rolled back by 4 (restores v2): 2 and 3 both failed, 3 and 4 are rework.
	r1, r2 := rel(1, 0, 1), rel(2, 2, 3)
	r3 := rel(3, 4, 5)
	r3.Kind, r3.RollbackOf = "rollback", 2
	r4 := rel(4, 6, 7)
	r4.Kind, r4.RollbackOf = "rollback", 3
	rep := Compute(History{Releases: []Release{r1, r2, r3, r4}}, week())
	m := rep.Totals
	if m.Deployments != 4 || m.FailedDeployments != 2 || m.Rework != 2 || m.Recovered != 2 {
		t.Fatalf("totals %+v", m)
	}
	if f2 := failure(t, rep, 2); f2.RecoveredWith != 3 || *f2.RecoverySeconds != 3600 || !f2.DetectedAt.Equal(*at(4)) {
		t.Fatalf("release 2 recovered %+v", f2)
	}
	if f3 := failure(t, rep, 3); f3.RecoveredWith != 4 || f3.RecoveredBy != RecoveredByRollback {
		t.Fatalf("release 3 recovered %+v", f3)
	}
}

func TestCancelledAndFailedBeforeTrafficAreNotDeployments(t *testing.T) {
	cancelled := rel(1, 0, -1)
	cancelled.State = "cancelled"
	attempt := rel(2, 1, -1)
	attempt.FailedAt, attempt.StartedAt = at(2), at(1.5)
	canary := rel(3, 3, -1)
	canary.FailedAt, canary.ServedTraffic = at(4), true
	rep := Compute(History{Releases: []Release{cancelled, attempt, canary}}, week())
	m := rep.Totals
	if m.Deployments != 1 || m.FailedAttempts != 1 || m.FailedDeployments != 1 || !slices.Equal(rep.FailedAttempts, []int64{2}) {
		t.Fatalf("totals %+v attempts %v", m, rep.FailedAttempts)
	}
	if fl := failure(t, rep, 3); !slices.Equal(fl.Causes, []string{CauseReleaseFailed}) || fl.RecoveredAt != nil {
		t.Fatalf("a failed canary %+v", fl)
	}
	if m.Unrecovered != 1 || m.RecoveryTime.N != 0 || m.LeadTime.CreatedToSucceeded.N != 0 {
		t.Fatalf("unrecovered %+v", m)
	}
}

func TestRerunIsOneDeploymentLeadToFirstSuccess(t *testing.T) {
	r := rel(1, 0, 5)
	r.CommittedAt, r.FailedAt = at(-1), at(2) // run 1 failed before traffic, run 2 succeeded
	rep := Compute(History{Releases: []Release{r}}, week())
	m := rep.Totals
	if m.Deployments != 1 || m.FailedAttempts != 0 || m.FailedDeployments != 0 || *m.LeadTime.CommitToSucceeded.P50 != 6*3600 {
		t.Fatalf("rerun %+v", m)
	}
}

func TestCanaryAbortKillMitigationAndHotfix(t *testing.T) {
	sig := func(h float64, k SignalKind, id int64, flag string) Signal {
		return Signal{At: *at(h), Kind: k, Release: id, Service: "web", Environment: "production", Flag: flag}
	}
	r1 := rel(1, 0, 1)
	r2 := rel(2, 2, -1) // canary aborted, then the release failed
	r2.FailedAt, r2.ServedTraffic = at(3.5), true
	r3 := rel(3, 4, 5) // declares checkout; killed at 8 without naming a release
	r3.Flags = []string{"checkout"}
	r4 := rel(4, 6, 7) // live at 8, declared nothing
	r5 := rel(5, 10, 11)
	r5.FailedAt = at(10.5) // failed run 1, then mitigated (counts like a kill)
	r5.SucceededAt = nil
	r6 := rel(6, 20, 21) // degraded; fixed forward by 7
	r7 := rel(7, 22, 24)
	r7.HotfixOf = 6
	h := History{Releases: []Release{r1, r2, r3, r4, r5, r6, r7}, Signals: []Signal{
		sig(3, SignalCanaryAborted, 2, ""),
		sig(8, SignalFlagKill, 0, "checkout"),
		sig(10.75, SignalFlagMitigation, 5, "checkout"),
	}}
	rep := Compute(h, week())
	m := rep.Totals
	// Deployments: 1, 2 (served traffic), 3, 4, 5 (mitigated), 6, 7. Failed: 2, 3, 5, 6.
	if m.Deployments != 7 || m.FailedDeployments != 4 || m.Rework != 1 || m.Recovered != 4 {
		t.Fatalf("totals %+v", m)
	}
	if fl := failure(t, rep, 2); !slices.Equal(fl.Causes, []string{CauseCanaryAborted, CauseReleaseFailed}) || !fl.DetectedAt.Equal(*at(3)) || fl.RecoveredBy != RecoveredByCanaryAbort || *fl.RecoverySeconds != 0 {
		t.Fatalf("canary %+v", fl)
	}
	if fl := failure(t, rep, 3); !slices.Equal(fl.Causes, []string{CauseFlagKill}) || fl.RecoveredBy != RecoveredByFlagKill {
		t.Fatalf("a kill of a declared flag counts against the release that declared it: %+v", fl)
	}
	if fl := failure(t, rep, 5); !fl.DetectedAt.Equal(*at(10.5)) || fl.RecoveredBy != RecoveredByFlagMitigation || *fl.RecoverySeconds != 900 {
		t.Fatalf("mitigation %+v", fl)
	}
	if fl := failure(t, rep, 6); !slices.Equal(fl.Causes, []string{CauseHotfix}) || !fl.DetectedAt.Equal(*at(22)) || fl.RecoveredBy != RecoveredByFixForward || fl.RecoveredWith != 7 || *fl.RecoverySeconds != 2*3600 {
		t.Fatalf("hotfix %+v", fl)
	}
	// Recoveries 0, 0, 900 s, 7200 s: p50 is the 2nd (0), p90 the 4th.
	if !eqp(m.RecoveryTime.P50, f(0)) || !eqp(m.RecoveryTime.P90, f(7200)) {
		t.Fatalf("recovery %+v", m.RecoveryTime)
	}
}

func TestKillOfUndeclaredFlagCountsAgainstLiveVersion(t *testing.T) {
	r1, r2 := rel(1, 0, 1), rel(2, 2, 3)
	kill := Signal{At: *at(5), Kind: SignalFlagKill, Service: "web", Environment: "production", Flag: "old"}
	other := Signal{At: *at(5), Kind: SignalFlagKill, Service: "web", Environment: "staging", Flag: "old"}
	rep := Compute(History{Releases: []Release{r1, r2}, Signals: []Signal{kill, other}}, week())
	if rep.Totals.FailedDeployments != 1 || failure(t, rep, 2).Release != 2 {
		t.Fatalf("failures %+v", rep.Failures)
	}
}

func TestRedeployRecovers(t *testing.T) {
	r1 := rel(1, 0, 1)
	r1.FailedAt = nil
	rb := Signal{At: *at(2), Kind: SignalRollback, Release: 1, Service: "web", Environment: "production"}
	r2 := rel(2, 3, 4) // a new version, neither rollback nor hotfix
	rep := Compute(History{Releases: []Release{r1, r2}, Signals: []Signal{rb}}, week())
	if fl := failure(t, rep, 1); fl.RecoveredBy != RecoveredByRedeploy || fl.RecoveredWith != 2 || *fl.RecoverySeconds != 2*3600 {
		t.Fatalf("redeploy %+v", fl)
	}
}

func TestWindowBoundaries(t *testing.T) {
	q := Query{Since: t0.Add(24 * time.Hour), Until: t0.Add(48 * time.Hour), Bucket: Day}
	before := rel(1, 0, 23)                // deployed before the window …
	rb := rel(2, 24.5, 25)                 // … its failure detected inside it
	rb.Kind, rb.RollbackOf = "rollback", 1 // (rollback created at 24.5)
	atUntil := rel(3, 47, 48)              // succeeds at Until: outside
	late := rel(4, 40, 47)                 // failure detected after Until: not a failure yet
	h := History{Releases: []Release{before, rb, atUntil, late}, Signals: []Signal{{At: *at(49), Kind: SignalRollback, Release: 4, Service: "web", Environment: "production"}}}
	rep := Compute(h, q)
	m := rep.Totals
	if m.Deployments != 2 || m.FailedDeployments != 0 || m.Failures != 1 || m.Recovered != 1 || m.Rework != 1 {
		t.Fatalf("window %+v", m)
	}
	if len(rep.Deployments) != 2 || rep.Deployments[0].Release != 2 || rep.Deployments[1].Release != 4 || rep.Failures[0].Release != 1 {
		t.Fatalf("drill-down %+v %+v", rep.Deployments, rep.Failures)
	}
	if len(rep.Trend) != 1 || rep.Trend[0].Metrics.Deployments != 2 {
		t.Fatalf("trend %+v", rep.Trend)
	}
}

func TestPerEnvironmentBreakdownProductionFirst(t *testing.T) {
	s1 := rel(1, 0, 1)
	s1.Environment = "staging"
	s2 := rel(2, 2, -1)
	s2.Environment, s2.FailedAt, s2.ServedTraffic = "staging", at(3), true
	p := rel(3, 4, 5)
	api := rel(4, 4, 5)
	api.Service, api.Team = "api", "core"
	rep := Compute(History{Releases: []Release{s1, s2, p, api}}, week())
	b := rep.Breakdown
	if len(b) != 3 || b[0].Environment != "production" || b[0].Service != "api" || b[1].Service != "web" || b[2].Environment != "staging" {
		t.Fatalf("breakdown order %+v", b)
	}
	if b[2].Metrics.FailedDeployments != 1 || *b[2].Metrics.ChangeFailRate != 0.5 || *b[1].Metrics.ChangeFailRate != 0 {
		t.Fatalf("staging failure stays in staging: %+v", b)
	}
	if got := Compute(History{Releases: []Release{s1, s2, p, api}}, Query{Since: t0, Until: t0.Add(7 * 24 * time.Hour), Environment: "production"}).Totals; got.Deployments != 2 || got.FailedDeployments != 0 {
		t.Fatalf("production only %+v", got)
	}
	if got := Compute(History{Releases: []Release{s1, s2, p, api}}, Query{Since: t0, Until: t0.Add(7 * 24 * time.Hour), Team: "core"}).Totals; got.Deployments != 1 {
		t.Fatalf("team core %+v", got)
	}
}

func TestTrendBuckets(t *testing.T) {
	q := Query{Since: t0, Until: t0.Add(10 * 24 * time.Hour)}
	rep := Compute(History{Releases: []Release{rel(1, 0, 1), rel(2, 24*8, 24*8+1), rel(3, 24*8, 24*8+2)}}, q)
	if len(rep.Trend) != 2 || rep.Trend[0].Metrics.Deployments != 1 || rep.Trend[1].Metrics.Deployments != 2 || !rep.Trend[1].End.Equal(q.Until) {
		t.Fatalf("trend %+v", rep.Trend)
	}
	if rep.Trend[1].Metrics.DeploymentsPerDay != 2.0/3 {
		t.Fatalf("a short last bucket's rate is over its own length: %v", rep.Trend[1].Metrics.DeploymentsPerDay)
	}
}

func TestDrillDownListsAreCappedNotTheNumbers(t *testing.T) {
	q := week()
	q.MaxList = 2
	rep := Compute(History{Releases: []Release{rel(1, 0, 1), rel(2, 2, 3), rel(3, 4, 5)}}, q)
	if rep.Totals.Deployments != 3 || len(rep.Deployments) != 2 || rep.Deployments[0].Release != 2 || !rep.Truncated {
		t.Fatalf("capped: %d deployments, list %+v, truncated %v", rep.Totals.Deployments, rep.Deployments, rep.Truncated)
	}
}

// TestHotfixThatNeverRanMarksNothing: a hotfix cancelled (or rejected)
// before it ran is "nothing" like any release cancelled before it ran; it
// must not mark the release it names failed — else anyone who may create
// a release can put any past deployment of the service among the failures,
// unrecovered, by creating a hotfix of it and cancelling it. One that ran
// counts from its creation; one still waiting at until counts once it
// starts (a past window's report does not change).
func TestHotfixThatNeverRanMarksNothing(t *testing.T) {
	r1 := rel(1, 0, 1)
	r2 := rel(2, 2, -1) // --hotfix --fixes 1, then cancelled before it ran
	r2.State, r2.HotfixOf = "cancelled", 1
	r3 := rel(3, 4, 5)
	r4 := rel(4, 6, -1) // --hotfix --fixes 3, waiting for approval at until
	r4.State, r4.HotfixOf = "pending_approval", 3
	rep := Compute(History{Releases: []Release{r1, r2, r3, r4}}, week())
	if m := rep.Totals; m.Deployments != 2 || m.FailedDeployments != 0 || len(rep.Failures) != 0 {
		t.Fatalf("hotfixes that never ran: totals %+v, failures %+v", m, rep.Failures)
	}
	r4.State, r4.StartedAt = "running", at(6.5) // it started
	rep = Compute(History{Releases: []Release{r1, r2, r3, r4}}, week())
	if fl := failure(t, rep, 3); !slices.Equal(fl.Causes, []string{CauseHotfix}) || !fl.DetectedAt.Equal(*at(6)) {
		t.Fatalf("a hotfix that started: %+v", fl)
	}
	if rep.Totals.FailedDeployments != 1 {
		t.Fatalf("totals %+v", rep.Totals)
	}
}
