package promexport_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/promexport"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

var ctx = context.Background()

// TestMain stops the throwaway PostgreSQL cluster once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}

// value finds name{labels} (k=v pairs) in what reg gathers: a counter's or
// gauge's value, or a histogram's count and sum.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) (v, sum float64, ok bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, kv := range labels {
				k, want, _ := strings.Cut(kv, "=")
				if labelOf(m, k) != want {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), 0, true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), 0, true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum(), true
			}
		}
	}
	return 0, 0, false
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestMetricsFromCommittedEvents(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testMetricsFromCommittedEvents(t, engine)
		})
	}
}

// testMetricsFromCommittedEvents runs a release whose first attempt's
// lease runs out, with a clock the test moves, and checks the counters,
// histograms and store gauges; a rolled back transaction counts nothing.
func testMetricsFromCommittedEvents(t *testing.T, engine string) {
	db := testutil.NewStore(t, engine)
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	m := promexport.New(db, promexport.Options{LostAfter: time.Minute})
	db.Committed = func(events []shipgate.AuditEvent) { m.Count(ctx, events) } // at once, for the test
	reg := m.Registry()
	testutil.MustApply(t, db, testutil.ServiceYAML) // deploy has retries: 1; verify needs deploy

	var r *shipgate.Release
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "1.0",
			Artifact: testutil.Artifact("1.0"), Inputs: map[string]string{"region": "eu"}, CreatedBy: "carol"})
		if err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: 30 * time.Second, Work: &reconcile.Signal{}}
	claim := func(runner string) *shipgate.Assignment {
		t.Helper()
		a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: runner}})
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		return a
	}
	// deploy waits 7s for a runner, whose lease then runs out.
	clock.Add(7 * time.Second)
	claim("agent-x")
	clock.Add(31 * time.Second)
	if _, err := reconcile.NewReconciler(db, nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := value(t, reg, "shipgate_jobs_queued"); n != 1 {
		t.Errorf("jobs queued after the lease ran out: %v, want 1", n)
	}
	// The retry is claimed at once, then verify after 2s.
	a := claim("agent-y")
	if err := d.Finish(ctx, "agent-y", a.Key, shipgate.JobOutcome{Succeeded: true}); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Second)
	a = claim("agent-y")
	if err := d.Finish(ctx, "agent-y", a.Key, shipgate.JobOutcome{Succeeded: true}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"shipgate_job_lease_expiries_total", nil, 1},
		{"shipgate_job_outcomes_total", []string{"result=succeeded"}, 2},
		{"shipgate_job_outcomes_total", []string{"result=retried"}, 1},
		{"shipgate_job_outcomes_total", []string{"result=failed"}, 0},
		{"shipgate_release_transitions_total", []string{"action=release.created"}, 1},
		{"shipgate_release_transitions_total", []string{"action=release.succeeded"}, 1},
		{"shipgate_audit_events_total", []string{"action=job.started"}, 3},
		{"shipgate_releases", []string{"state=succeeded"}, 1},
		{"shipgate_releases", []string{"state=running"}, 0},
		{"shipgate_jobs_queued", nil, 0},
		{"shipgate_store_up", nil, 1},
	} {
		if got, _, ok := value(t, reg, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Dispatch: 7s for deploy's first attempt, 0 for its retry, 2s for verify.
	if n, sum, _ := value(t, reg, "shipgate_job_dispatch_seconds"); n != 3 || sum != 9 {
		t.Errorf("dispatch latency: %v observations summing to %vs, want 3 summing to 9s", n, sum)
	}
	var head int64
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		var err error
		head, _, err = tx.AuditHead(ctx)
		return err
	})
	if got, _, _ := value(t, reg, "shipgate_audit_chain_length"); got != float64(head) {
		t.Errorf("audit chain length %v, want the head's seq %d", got, head)
	}

	// A transaction that appends an event and then fails counts nothing.
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.Audit(ctx, shipgate.NewAuditEvent("carol", shipgate.ActionRollbackFired, shipgate.ReleaseSubject(r.ID),
			map[string]any{"triggered_by": shipgate.TriggeredByUser})); err != nil {
			return err
		}
		return errors.New("changed my mind")
	})
	if err == nil {
		t.Fatal("the failing transaction committed")
	}
	if got, _, _ := value(t, reg, "shipgate_rollbacks_total", "trigger=user"); got != 0 {
		t.Errorf("a rolled back rollback.fired was counted: %v", got)
	}
	if _, _, ok := value(t, reg, "shipgate_audit_events_total", "action=rollback.fired"); ok {
		t.Error("a rolled back event shows in shipgate_audit_events_total")
	}
}

// TestCanaryAbortReasons: an abort's free-text reason becomes one of a
// few label values.
func TestCanaryAbortReasons(t *testing.T) {
	m := promexport.New(nil, promexport.Options{})
	for _, details := range []string{
		`{"reason":"error rate 7% is above 1%","evidence":{"error-rate":{"value":0.07}}}`,
		`{"reason":"the rollout timed out at step 2","evidence":{}}`,
		`{"reason":"cancelled by carol","evidence":null}`,
		`{"reason":"the agent aborted the rollout without saying why"}`,
		`{"reason":"` + strings.Repeat("x", 500) + `"}`,
	} {
		m.Count(ctx, []shipgate.AuditEvent{{Action: shipgate.ActionRolloutAborted, Subject: "release/1", Details: []byte(details)}})
	}
	for reason, want := range map[string]float64{"analysis": 1, "timeout": 1, "cancelled": 1, "other": 2} {
		if got, _, _ := value(t, m.Registry(), "shipgate_canary_aborts_total", "reason="+reason); got != want {
			t.Errorf("aborts for %s: %v, want %v", reason, got, want)
		}
	}
}
