package kpi

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func window() shipgate.KPIFilter {
	return shipgate.KPIFilter{Since: t0, Until: t0.Add(30 * 24 * time.Hour)}
}

// history: release 1 fails its health check and passes on a rerun (flaky);
// 2 fails health for good; 3 re-releases 2's artifact and passes (2's
// failure is flaky too); 4 is a rollback of 2; 5 belongs to another team
// and environment; 6 was created before the window.
func history() *History {
	rel := func(id int64, env, team, kind, sha string, min int) Release {
		return Release{ID: id, Service: "web", Environment: env, Team: team, Kind: kind, ArtifactSHA: sha, CreatedAt: at(min)}
	}
	end := at(40)
	return &History{
		Releases: []Release{
			rel(1, "prod", "web-team", shipgate.ReleaseKindDeploy, "a", 0),
			rel(2, "prod", "web-team", shipgate.ReleaseKindDeploy, "b", 10),
			rel(3, "prod", "web-team", shipgate.ReleaseKindDeploy, "b", 20),
			rel(4, "prod", "web-team", shipgate.ReleaseKindRollback, "a", 30),
			rel(5, "staging", "other", shipgate.ReleaseKindDeploy, "c", 30),
			rel(6, "prod", "web-team", shipgate.ReleaseKindDeploy, "a", -10),
		},
		Outcomes: []Outcome{
			{ReleaseID: 1, Kind: shipgate.GateKindJob, Gate: "health", Passed: false, At: at(1)},
			{ReleaseID: 1, Kind: shipgate.GateKindJob, Gate: "health", Passed: true, At: at(5)},
			{ReleaseID: 2, Kind: shipgate.GateKindJob, Gate: "health", Passed: false, At: at(11)},
			{ReleaseID: 3, Kind: shipgate.GateKindJob, Gate: "health", Passed: true, At: at(21)},
			{ReleaseID: 4, Kind: shipgate.GateKindJob, Gate: "health", Passed: false, At: at(31)},
			{ReleaseID: 5, Kind: shipgate.GateKindJob, Gate: "health", Passed: false, At: at(31)},
			{ReleaseID: 6, Kind: shipgate.GateKindJob, Gate: "health", Passed: true, At: at(-9)},
			{ReleaseID: 1, Kind: shipgate.GateKindPolicy, Gate: "start", Passed: true, At: at(1)},
			// a pass before the failure does not make it flaky
			{ReleaseID: 2, Kind: shipgate.GateKindPolicy, Gate: "approve", Passed: true, At: at(10)},
			{ReleaseID: 2, Kind: shipgate.GateKindPolicy, Gate: "approve", Passed: false, At: at(12)},
		},
		JobWaits: []Wait{
			{ReleaseID: 1, From: at(0), To: at(1)}, {ReleaseID: 2, From: at(10), To: at(13)},
			{ReleaseID: 3, From: at(20), To: at(22)}, {ReleaseID: 5, From: at(0), To: at(100)},
		},
		ReleaseWaits: []Wait{{ReleaseID: 4, From: at(30), To: at(30)}},
		Rollouts: []Rollout{
			{ReleaseID: 1, Started: at(2), Ended: ptr(at(12)), Cause: ""},
			{ReleaseID: 2, Started: at(12), Ended: ptr(at(14)), Aborted: true, Cause: "metric error-rate"},
			{ReleaseID: 3, Started: at(22), Ended: &end, Aborted: true, Cause: "metric error-rate"},
			{ReleaseID: 3, Started: at(41)},
		},
		Decisions: []Decision{
			{ReleaseID: 2, Metric: "error-rate", Judge: "threshold", Verdict: shipgate.AnalysisFailed},
			{ReleaseID: 3, Metric: "error-rate", Judge: "threshold", Verdict: shipgate.AnalysisFailed},
			{ReleaseID: 1, Metric: "error-rate", Judge: "threshold", Verdict: shipgate.AnalysisSuccessful},
			{ReleaseID: 5, Metric: "error-rate", Judge: "threshold", Verdict: shipgate.AnalysisSuccessful},
		},
	}
}

func ptr(t time.Time) *time.Time { return &t }

func TestComputeTeamWindow(t *testing.T) {
	f := window()
	f.Team = "web-team"
	k := Compute(history(), f)
	if !reflect.DeepEqual(k.ReleaseIDs, []int64{1, 2, 3, 4}) {
		t.Fatalf("releases %v, want 1-4 (5 is another team's, 6 before the window)", k.ReleaseIDs)
	}
	want := []shipgate.GateFigure{
		// failures 1 (rerun passed), 2 (re-released as 3, passed), 4 (never passed)
		{Kind: "job", Name: "health", Passed: 2, Failed: 3, Flaky: 2, FlakinessRate: 0.6667, FailedReleases: []int64{1, 2, 4}, FlakyReleases: []int64{1, 2}},
		{Kind: "policy", Name: "approve", Passed: 1, Failed: 1, Flaky: 0, FlakinessRate: 0, FailedReleases: []int64{2}, FlakyReleases: []int64{}},
		{Kind: "policy", Name: "start", Passed: 1, FailedReleases: []int64{}, FlakyReleases: []int64{}},
	}
	if !reflect.DeepEqual(k.Gates, want) {
		t.Errorf("gates\n got %+v\nwant %+v", k.Gates, want)
	}
	// job waits 60 s, 180 s, 120 s: p50 120, p90 180, mean 120
	if q := k.JobQueue; q.Count != 3 || q.P50 != 120 || q.P90 != 180 || q.Mean != 120 || !reflect.DeepEqual(q.Releases, []int64{1, 2, 3}) {
		t.Errorf("job queue %+v", q)
	}
	if q := k.ReleaseQueue; q.Count != 1 || q.P50 != 0 {
		t.Errorf("release queue %+v", q)
	}
	c := k.Canaries
	// durations 10, 2, 18 min: mean 10 min; p50 10 min; p90 18 min
	if c.Count != 4 || c.Completed != 1 || c.Aborted != 2 || c.AbortRate != 0.5 || c.Duration.Count != 3 || c.Duration.Mean != 600 || c.Duration.P50 != 600 || c.Duration.P90 != 1080 {
		t.Errorf("canaries %+v", c)
	}
	if !reflect.DeepEqual(c.AbortReasons, []shipgate.AbortReason{{Cause: "metric error-rate", Count: 2, Releases: []int64{2, 3}}}) {
		t.Errorf("abort reasons %+v", c.AbortReasons)
	}
	wantJudge := []shipgate.JudgeCount{
		{Metric: "error-rate", Judge: "threshold", Verdict: "failed", Count: 2, Releases: []int64{2, 3}},
		{Metric: "error-rate", Judge: "threshold", Verdict: "successful", Count: 1, Releases: []int64{1}},
	}
	if !reflect.DeepEqual(k.Judge, wantJudge) {
		t.Errorf("judge %+v", k.Judge)
	}
	if w := k.Rework; w.Rollbacks != 1 || w.Hotfixes != 0 || w.Rate != 0.25 || !reflect.DeepEqual(w.RollbackReleases, []int64{4}) {
		t.Errorf("rework %+v", w)
	}
}

func TestComputeFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*shipgate.KPIFilter)
		want []int64
	}{
		{"all", func(*shipgate.KPIFilter) {}, []int64{1, 2, 3, 4, 5}},
		{"environment", func(f *shipgate.KPIFilter) { f.Environment = "staging" }, []int64{5}},
		{"service", func(f *shipgate.KPIFilter) { f.Service = "api" }, []int64{}},
		{"until", func(f *shipgate.KPIFilter) { f.Until = at(20) }, []int64{1, 2}},
		{"since", func(f *shipgate.KPIFilter) { f.Since = at(-10) }, []int64{1, 2, 3, 4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := window()
			tc.f(&f)
			if k := Compute(history(), f); !reflect.DeepEqual(k.ReleaseIDs, tc.want) || k.Releases != len(tc.want) {
				t.Errorf("releases %v, want %v", k.ReleaseIDs, tc.want)
			}
		})
	}
}

// A failure of a release outside the selection is flaky only by what the
// selection holds; hotfixes count as rework once.
func TestComputeHotfixAndEmpty(t *testing.T) {
	h := &History{Releases: []Release{
		{ID: 1, Kind: shipgate.ReleaseKindDeploy, Hotfix: true, CreatedAt: at(0)},
		{ID: 2, Kind: shipgate.ReleaseKindRollback, Hotfix: true, CreatedAt: at(0)},
		{ID: 3, Kind: shipgate.ReleaseKindDeploy, CreatedAt: at(0)},
	}}
	k := Compute(h, window())
	if w := k.Rework; w.Rollbacks != 1 || w.Hotfixes != 1 || w.Rate != 0.6667 || !reflect.DeepEqual(w.HotfixReleases, []int64{1}) {
		t.Errorf("rework %+v", w)
	}
	if len(k.Gates) != 0 || k.Canaries.Count != 0 || k.Canaries.AbortRate != 0 || k.JobQueue.Count != 0 || k.JobQueue.Releases == nil {
		t.Errorf("empty figures %+v", k)
	}
	empty := Compute(&History{}, window())
	if empty.Releases != 0 || empty.Rework.Rate != 0 || empty.ReleaseIDs == nil {
		t.Errorf("empty history %+v", empty)
	}
}

func TestParseKPIWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 30 * 24 * time.Hour, "7d": 7 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute} {
		if d, err := shipgate.ParseKPIWindow(in); err != nil || d != want {
			t.Errorf("%q: %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"0d", "-1d", "x", "30", "367d", "1y"} {
		if _, err := shipgate.ParseKPIWindow(in); shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Errorf("%q: %v, want invalid", in, err)
		}
	}
}

// Far-apart ids and many gates take the map paths: the same figures.
func TestComputeSparseIDsManyGates(t *testing.T) {
	h := &History{Releases: []Release{
		{ID: 1, Service: "web", Environment: "prod", ArtifactSHA: "a", CreatedAt: at(0)},
		{ID: 1 << 40, Service: "web", Environment: "prod", ArtifactSHA: "a", CreatedAt: at(1)},
	}}
	for i := range 40 {
		gate := fmt.Sprintf("check-%02d", i)
		h.Outcomes = append(h.Outcomes,
			Outcome{ReleaseID: 1, Kind: shipgate.GateKindJob, Gate: gate, Passed: false, At: at(1)},
			Outcome{ReleaseID: 1 << 40, Kind: shipgate.GateKindJob, Gate: gate, Passed: i%2 == 0, At: at(2)})
	}
	k := Compute(h, window())
	if len(k.Gates) != 40 {
		t.Fatalf("%d gates, want 40", len(k.Gates))
	}
	for i, g := range k.Gates {
		wantFlaky := 1 - i%2 // the re-release of the same digest passed the even ones
		if g.Name != fmt.Sprintf("check-%02d", i) || g.Failed != 1+i%2 || g.Flaky != wantFlaky {
			t.Errorf("gate %d: %+v", i, g)
		}
	}
}
