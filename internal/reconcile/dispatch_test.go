package reconcile_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestDispatcher pins the job hand-off as runners see it — Claim,
// Heartbeat, Finish, Probes, Held, AppendLogs, Rollout, and the lease
// expiry the reconciler plans — through the Dispatcher's public methods
// against a real store, on SQLite and on PostgreSQL. It asserts states,
// causes, the reasons that are part of the contract, and the exact audit
// events each transition records (each once).
func TestDispatcher(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, f *dispFixture)
	}{
		{"ClaimLabels", testClaimLabels},
		{"ClaimEnvironments", testClaimEnvironments},
		{"ClaimServiceHome", testClaimServiceHome},
		{"ClaimSecrets", testClaimSecrets},
		{"ClaimOnlyRunningCurrentRun", testClaimOnlyRunningCurrentRun},
		{"ClaimIdempotent", testClaimIdempotent},
		{"ClaimWaits", testClaimWaits},
		{"ClaimWaitsDrained", testClaimWaitsDrained},
		{"ClaimWaitsRefused", testClaimWaitsRefused},
		{"Heartbeat", testHeartbeat},
		{"FinishSuccess", testFinishSuccess},
		{"FinishRetry", testFinishRetry},
		{"FinishRollbackPolicy", testFinishRollbackPolicy},
		{"FinishHandBack", testFinishHandBack},
		{"FinishHandBackLimit", testFinishHandBackLimit},
		{"FinishLateSuccess", testFinishLateSuccess},
		{"FinishAfterLost", testFinishAfterLost},
		{"FinishFailureIsFinal", testFinishFailureIsFinal},
		{"FinishCancelled", testFinishCancelled},
		{"LeaseExpiry", testDispatchLeaseExpiry},
		{"ProbesAndRecovery", testProbesAndRecovery},
		{"ProbesWhileRunning", testProbesWhileRunning},
		{"RolloutReports", testRolloutReports},
		{"LogsAndHeld", testLogsAndHeld},
		{"FinishBatched", testFinishBatched},
		{"ClaimsBatched", testClaimsBatched},
	}
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, newDispFixture(t, engine))
				})
			}
		})
	}
}

// leaseTTL is the fixture dispatcher's lease.
const leaseTTL = 30 * time.Second

// dispService has two environments that need no approval, and a deploy
// job (one retry) that verify needs.
const dispService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}, {name: production}]
  pipeline:
    jobs:
      - name: deploy
        retries: 1
        steps: [{run: "true"}]
      - name: verify
        needs: [deploy]
        steps: [{run: "true"}]
`

// oneJobService has a single job with no retry.
const oneJobService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// dispFixture is a fresh store on one engine with a settable clock and a
// dispatcher over it.
type dispFixture struct {
	t     *testing.T
	db    *sqlstore.DB
	clock *testutil.Clock
	d     *reconcile.Dispatcher
}

func newDispFixture(t *testing.T, engine string) *dispFixture {
	db := testutil.NewStore(t, engine)
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	f := &dispFixture{t: t, db: db, clock: clock, d: &reconcile.Dispatcher{DB: db, LeaseTTL: leaseTTL, Work: &reconcile.Signal{}}}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Errorf("audit verify: %v", err)
		}
	})
	return f
}

func (f *dispFixture) apply(src string) { testutil.MustApply(f.t, f.db, src) }

// release creates a release and reconciles it in the same transaction, as
// the API does: without approvals it is running with its first jobs
// queued.
func (f *dispFixture) release(env, version string) *shipgate.Release {
	f.t.Helper()
	return f.create(sqlstore.NewRelease{Service: "web", Environment: env, Version: version, Artifact: testutil.Artifact(version), CreatedBy: "carol"})
}

func (f *dispFixture) create(nr sqlstore.NewRelease) *shipgate.Release {
	f.t.Helper()
	var id int64
	testutil.Update(f.t, f.db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, nr)
		if err != nil {
			return err
		}
		id = r.ID
		_, _, err = reconcile.Release(ctx, tx, id)
		return err
	})
	return f.find(id)
}

func (f *dispFixture) find(id int64) *shipgate.Release {
	f.t.Helper()
	var r *shipgate.Release
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		r, err = tx.FindRelease(ctx, id)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// view runs fn in a read transaction and fails the test on error.
func (f *dispFixture) view(fn func(tx *sqlstore.Tx) error) {
	f.t.Helper()
	if err := f.db.View(ctx, fn); err != nil {
		f.t.Fatal(err)
	}
}

// job returns the job of the release's current run.
func (f *dispFixture) job(id int64, name string) shipgate.JobRun {
	f.t.Helper()
	run := f.find(id).Run
	var out shipgate.JobRun
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		jobs, err := tx.ListJobs(ctx, id, run)
		for _, j := range jobs {
			if j.Name == name {
				out = j
				return err
			}
		}
		if err == nil {
			err = fmt.Errorf("release %d run %d has no job %s", id, run, name)
		}
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func runner(name string, labels ...string) shipgate.RunnerInfo {
	ri := shipgate.RunnerInfo{Name: name, Labels: map[string]string{}}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		ri.Labels[k] = v
	}
	return ri
}

// claim claims for ri without waiting and fails the test if nothing was
// handed out.
func (f *dispFixture) claim(ri shipgate.RunnerInfo) *shipgate.Assignment {
	f.t.Helper()
	a, ok, err := f.d.Claim(ctx, shipgate.ClaimRequest{Runner: ri})
	if err != nil || !ok || a == nil {
		f.t.Fatalf("claim by %s: %+v %v %v", ri.Name, a, ok, err)
	}
	return a
}

// noClaim asserts that ri is handed nothing.
func (f *dispFixture) noClaim(ri shipgate.RunnerInfo) {
	f.t.Helper()
	if a, ok, err := f.d.Claim(ctx, shipgate.ClaimRequest{Runner: ri}); ok || err != nil || a != nil {
		f.t.Fatalf("claim by %s: got %+v %v %v, want nothing", ri.Name, a, ok, err)
	}
}

func (f *dispFixture) finish(ri string, key shipgate.AttemptKey, out shipgate.JobOutcome) {
	f.t.Helper()
	if err := f.d.Finish(ctx, ri, key, out); err != nil {
		f.t.Fatalf("finish %+v by %s: %v", key, ri, err)
	}
}

var ok0 = shipgate.JobOutcome{Succeeded: true}

// failed is a failed attempt's outcome.
func failed(reason string, code int) shipgate.JobOutcome {
	return shipgate.JobOutcome{Reason: reason, ExitCode: &code}
}

// plan runs one reconciler pass, as the loop does, and returns its wake.
func (f *dispFixture) plan() time.Time {
	f.t.Helper()
	wake, err := reconcile.NewReconciler(f.db, nil).RunOnce(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return wake
}

// audit returns the events of release id after seq.
func (f *dispFixture) audit(id, after int64) []shipgate.AuditEvent {
	f.t.Helper()
	var out []shipgate.AuditEvent
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: id, AfterSeq: after, Limit: 10000})
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// mark is the seq of the latest event of release id (0: none), to expect
// what comes after it.
func (f *dispFixture) mark(id int64) int64 {
	f.t.Helper()
	es := f.audit(id, 0)
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Seq
}

// expect asserts that the events of release id after *seq are exactly want
// ("actor:action" separated by spaces; "" for none), moves *seq past them
// and returns them.
func (f *dispFixture) expect(id int64, seq *int64, want string) []shipgate.AuditEvent {
	f.t.Helper()
	es := f.audit(id, *seq)
	var got []string
	for _, e := range es {
		got = append(got, e.Actor+":"+e.Action)
	}
	if strings.Join(got, " ") != want {
		f.t.Fatalf("events of release %d after seq %d:\n got %q\nwant %q", id, *seq, strings.Join(got, " "), want)
	}
	if len(es) > 0 {
		*seq = es[len(es)-1].Seq
	}
	return es
}

// details decodes an event's details.
func details(t *testing.T, e shipgate.AuditEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Details, &m); err != nil {
		t.Fatalf("details of %s: %v", e.Action, err)
	}
	return m
}

// hasDetails asserts that the event's details hold every key of want with
// that value (numbers as JSON decodes them).
func hasDetails(t *testing.T, e shipgate.AuditEvent, want map[string]any) map[string]any {
	t.Helper()
	m := details(t, e)
	for k, v := range want {
		if fmt.Sprint(m[k]) != fmt.Sprint(v) {
			t.Fatalf("%s details %s: %s = %v, want %v", e.Action, e.Details, k, m[k], v)
		}
	}
	return m
}

// notified reports whether the signal channel c, taken before a call, was
// closed by it.
func notified(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func timeIs(got *time.Time, want time.Time) bool { return got != nil && got.Equal(want) }

func code(err error) string { return shipgate.ErrorCode(err) }
