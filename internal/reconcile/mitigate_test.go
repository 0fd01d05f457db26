package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestMitigations pins flags as a rollback action (issue 15) against a
// real store on SQLite and PostgreSQL: a failure the rollback policy
// watches for flips the policy's mitigations in the transaction that
// records it (before the redeploy, or instead of it), a canary analysis
// abort flips them at the abort, once, and what was done is on the
// release's timeline.
func TestMitigations(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, f *dispFixture)
	}{
		{"HealthGateThenRollback", testMitigateHealthGate},
		{"HealthGateRecovers", testMitigateRecovers},
		{"InsteadOfRedeploy", testMitigateInsteadOfRedeploy},
		{"OnlyWatchedFailures", testMitigateOnlyWatched},
		{"AnyFailureWithoutCheckTarget", testMitigateAnyFailure},
		{"CanaryAbortOnce", testMitigateCanaryAbort},
		{"AbortWithoutVerdict", testMitigateAbortWithoutVerdict},
		{"NoApprovalWait", testMitigateNoApprovalWait},
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

// mitigatedService is rollbackService with two flags and mitigations
// naming both: new-checkout to "off", banner to its safe variant.
func mitigatedService(rollback string, extra ...string) string {
	return `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false, "half": false }
      default_variant: "on"
      safe_variant: "half"
    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: fancy
      safe_variant: plain
  environments:
    - name: production
      rollback: ` + rollback + `
` + strings.Join(extra, "\n") + `
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
      - name: health
        needs: [deploy]
        check: {http: {url: "http://127.0.0.1:1/"}, fail_after: 2}
`
}

const (
	policyHealth   = `{enabled: true, check_target: health, delay_seconds: 60, mode: last_successful, mitigations: [{flag: new-checkout, variant: "off"}, {flag: banner}]}`
	policyNoDeploy = `{enabled: false, check_target: health, mitigations: [{flag: new-checkout, variant: "off"}]}`
	policyAnyJob   = `{enabled: true, delay_seconds: 60, mode: last_successful, mitigations: [{flag: new-checkout, variant: "off"}]}`
)

// succeed runs a release of version to success (deploy, then health).
func (f *dispFixture) succeed(version string) *shipgate.Release {
	f.t.Helper()
	r := f.release("production", version)
	for range 2 {
		f.finish("r", f.claim(runner("r")).Key, ok0)
	}
	if got := f.find(r.ID); got.State != shipgate.StateSucceeded {
		f.t.Fatalf("release %s: %s %s", version, got.State, got.Reason)
	}
	return got(f, r.ID)
}

func got(f *dispFixture, id int64) *shipgate.Release { return f.find(id) }

// failHealth fails the health check of the running release r.
func (f *dispFixture) failHealth(r *shipgate.Release) {
	f.t.Helper()
	f.finish("r", f.claim(runner("r")).Key, ok0) // deploy
	a := f.claim(runner("r"))
	if a.Key.Job != "health" {
		f.t.Fatalf("want the health check, got %s", a.Key.Job)
	}
	f.finish("r", a.Key, shipgate.JobOutcome{Reason: "health check failed 2 times"})
}

func (f *dispFixture) flag(key string) shipgate.FlagState {
	f.t.Helper()
	var s *shipgate.FlagState
	f.view(func(tx *sqlstore.Tx) error {
		var err error
		s, err = tx.FindFlag(ctx, "web", "production", key)
		return err
	})
	return *s
}

func (f *dispFixture) mitigations(id int64) []shipgate.FlagChange {
	f.t.Helper()
	var cs []shipgate.FlagChange
	f.view(func(tx *sqlstore.Tx) error {
		var err error
		cs, err = tx.ListFlagChanges(ctx, sqlstore.FlagChangeFilter{ReleaseID: id})
		return err
	})
	return cs
}

// flips decodes the flags of a release.mitigated event.
func flips(t *testing.T, e shipgate.AuditEvent) string {
	t.Helper()
	if e.Action != shipgate.ActionReleaseMitigated {
		t.Fatalf("want %s, got %s", shipgate.ActionReleaseMitigated, e.Action)
	}
	m := details(t, e)
	s, _ := m["summary"].(string)
	return s
}

// The health gate fails: both flags flip in the failure's transaction,
// before release.failed and rollback.pending, each a mitigation change
// naming the release, with no approval; the redeploy follows the delay.
// A flag gone since the release was created is recorded as not flipped.
func testMitigateHealthGate(t *testing.T, f *dispFixture) {
	f.apply(mitigatedService(policyHealth))
	v1 := f.succeed("1")
	v2 := f.release("production", "2")
	seq := f.mark(v2.ID)
	f.failHealth(v2)
	es := f.expect(v2.ID, &seq, "system:job.started system:job.finished system:job.started system:job.finished system:release.mitigated system:release.failed system:rollback.pending")
	if s := flips(t, es[4]); s != "new-checkout → off; banner → plain" {
		t.Fatalf("release.mitigated summary %q", s)
	}
	hasDetails(t, es[4], map[string]any{"run": 1, "reason": "job health failed: health check failed 2 times"})
	nc := f.flag("new-checkout")
	if !nc.Flag.Disabled || nc.Flag.Served() != "off" || nc.UpdatedBy != shipgate.SystemActor {
		t.Fatalf("new-checkout after the failure: %+v", nc)
	}
	if b := f.flag("banner"); !b.Flag.Disabled || b.Flag.Served() != "plain" {
		t.Fatalf("banner after the failure: %+v", b)
	}
	cs := f.mitigations(v2.ID)
	if len(cs) != 2 {
		t.Fatalf("want 2 mitigation changes of release %d, got %+v", v2.ID, cs)
	}
	for _, c := range cs {
		if c.Op != shipgate.FlagOpMitigation || c.State != shipgate.FlagChangeApplied || c.RequestedBy != shipgate.SystemActor ||
			!strings.Contains(c.Reason, "release 2 of web 2 failed: job health failed") {
			t.Fatalf("mitigation change %+v", c)
		}
	}
	// The flag's own history says it too, as an incident-grade event.
	f.view(func(tx *sqlstore.Tx) error {
		evs, err := tx.ListAudit(ctx, shipgate.AuditFilter{Subject: shipgate.FlagSubject("web", "production", "new-checkout"), ActionPrefix: shipgate.ActionFlagMitigated})
		if err != nil {
			return err
		}
		if len(evs) != 1 {
			t.Fatalf("flag.mitigated events: %d", len(evs))
		}
		hasDetails(t, evs[0], map[string]any{"op": "mitigation", "release": v2.ID, "severity": "incident"})
		return nil
	})
	// The redeploy follows its delay; the flags stay flipped.
	f.clock.Add(time.Minute)
	f.plan()
	es = f.expect(v2.ID, &seq, "system:rollback.fired")
	hasDetails(t, es[0], map[string]any{"target_release": v1.ID})
	f.view(func(tx *sqlstore.Tx) error {
		rb, err := tx.FindRollback(ctx, v2.ID)
		if err != nil {
			return err
		}
		if rb.State != shipgate.RollbackFired || rb.RollbackRelease == 0 {
			t.Fatalf("rollback after the delay: %+v", rb)
		}
		return nil
	})
	if nc := f.flag("new-checkout"); !nc.Flag.Disabled {
		t.Fatal("the rollback turned the mitigated flag back on")
	}
	if cs := f.mitigations(v2.ID); len(cs) != 2 {
		t.Fatalf("the rollback flipped again: %+v", cs)
	}
}

// A health check that recovers calls the rollback off; the flags stay
// flipped (a person turns them on again with flag enable).
func testMitigateRecovers(t *testing.T, f *dispFixture) {
	_, v2, key, seq := rollbackPendingMitigated(t, f)
	if reply, err := f.d.Probes(ctx, "r", key, nil, true); err != nil || !reply.Stop {
		t.Fatalf("recovery: %+v %v", reply, err)
	}
	f.expect(v2.ID, &seq, "system:rollback.called_off")
	f.clock.Add(time.Hour)
	f.plan()
	f.expect(v2.ID, &seq, "")
	if nc := f.flag("new-checkout"); !nc.Flag.Disabled || nc.Flag.Served() != "off" {
		t.Fatalf("new-checkout after the recovery: %+v", nc)
	}
}

// rollbackPendingMitigated fails v2's health check under policyHealth and
// returns the check's key and the seq after the failure's events.
func rollbackPendingMitigated(t *testing.T, f *dispFixture) (v1, v2 *shipgate.Release, check shipgate.AttemptKey, seq int64) {
	t.Helper()
	f.apply(mitigatedService(policyHealth))
	v1 = f.succeed("1")
	v2 = f.release("production", "2")
	f.finish("r", f.claim(runner("r")).Key, ok0)
	a := f.claim(runner("r"))
	f.finish("r", a.Key, shipgate.JobOutcome{Reason: "health check failed 2 times"})
	seq = f.mark(v2.ID)
	return v1, v2, a.Key, seq
}

// With enabled: false the flags flip instead of a redeploy: no rollback
// record, no rollback release. A flag the service no longer has when the
// release fails is recorded as not flipped, and fails nothing.
func testMitigateInsteadOfRedeploy(t *testing.T, f *dispFixture) {
	f.apply(mitigatedService(`{enabled: false, check_target: health, mitigations: [{flag: new-checkout, variant: "off"}, {flag: banner}]}`))
	f.succeed("1")
	v2 := f.release("production", "2")
	// The file drops banner after v2 froze its policy.
	f.apply(strings.Replace(mitigatedService(policyNoDeploy), `    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: fancy
      safe_variant: plain
`, "", 1))
	seq := f.mark(v2.ID)
	f.failHealth(v2)
	es := f.expect(v2.ID, &seq, "system:job.started system:job.finished system:job.started system:job.finished system:release.mitigated system:release.failed")
	if s := flips(t, es[4]); s != "new-checkout → off; banner not flipped (the flag no longer exists in production)" {
		t.Fatalf("summary %q", s)
	}
	if err := f.db.View(ctx, func(tx *sqlstore.Tx) error { _, err := tx.FindRollback(ctx, v2.ID); return err }); code(err) != shipgate.ENOTFOUND {
		t.Fatalf("enabled: false made a rollback: %v", err)
	}
	if nc := f.flag("new-checkout"); !nc.Flag.Disabled || nc.Flag.Served() != "off" {
		t.Fatalf("new-checkout: %+v", nc)
	}
}

// With a check target, a deploy script failing is not what the policy
// watches: nothing flips (and nothing is rolled back).
func testMitigateOnlyWatched(t *testing.T, f *dispFixture) {
	f.apply(mitigatedService(policyHealth))
	f.succeed("1")
	v2 := f.release("production", "2")
	seq := f.mark(v2.ID)
	f.finish("r", f.claim(runner("r")).Key, failed("deploy script exited 1", 1))
	f.expect(v2.ID, &seq, "system:job.started system:job.finished system:release.failed")
	if nc := f.flag("new-checkout"); nc.Flag.Disabled {
		t.Fatalf("a failure the policy does not watch flipped new-checkout: %+v", nc)
	}
}

// Without a check target every failure triggers the policy, a deploy
// script's too: it flips, and a flag already serving its variant
// disabled is left as it is.
func testMitigateAnyFailure(t *testing.T, f *dispFixture) {
	// v2 fails under a policy flipping banner only, with no redeploy.
	f.apply(mitigatedService(`{enabled: false, mitigations: [{flag: banner}]}`))
	f.succeed("1")
	v2 := f.release("production", "2")
	f.finish("r", f.claim(runner("r")).Key, failed("deploy script exited 1", 1))
	if b := f.flag("banner"); !b.Flag.Disabled || b.Flag.Served() != "plain" {
		t.Fatalf("banner after v2: %+v", b)
	}
	f.apply(mitigatedService(`{enabled: true, delay_seconds: 60, mode: last_successful, mitigations: [{flag: new-checkout, variant: "off"}, {flag: banner}]}`))
	v3 := f.release("production", "3")
	seq := f.mark(v3.ID)
	f.finish("r", f.claim(runner("r")).Key, failed("deploy script exited 1", 1))
	es := f.expect(v3.ID, &seq, "system:job.started system:job.finished system:release.mitigated system:release.failed system:rollback.pending")
	if s := flips(t, es[2]); s != "new-checkout → off; banner not flipped (it already served plain to everyone)" {
		t.Fatalf("summary %q", s)
	}
	if cs := f.mitigations(v3.ID); len(cs) != 1 || cs[0].Key != "new-checkout" {
		t.Fatalf("mitigation changes of v3 %+v", cs)
	}
	if cs := f.mitigations(v2.ID); len(cs) != 1 || cs[0].Key != "banner" {
		t.Fatalf("mitigation changes of v2 %+v", cs)
	}
}

// A canary analysis that aborts the rollout flips at the abort, in the
// report's transaction, whatever the check target; the job's failure
// that follows flips nothing again.
func testMitigateCanaryAbort(t *testing.T, f *dispFixture) {
	f.apply(mitigatedService(policyHealth))
	f.succeed("1")
	v2 := f.release("production", "2")
	seq := f.mark(v2.ID)
	a := f.claim(runner("r"))
	fail := shipgate.AnalysisDecision{At: f.clock.Now(), Step: 1, Judge: "threshold", Metric: "error_rate", Phase: shipgate.AnalysisFailed, Summary: "error rate 7% is above 1%"}
	if _, err := f.d.Rollout(ctx, "r", a.Key, status(1, shipgate.RolloutProgressing, 0, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.Rollout(ctx, "r", a.Key, status(2, shipgate.RolloutAborted, 1, 0, fail)); err != nil {
		t.Fatal(err)
	}
	es := f.expect(v2.ID, &seq, "system:job.started system:rollout.step system:analysis.judged system:rollout.aborted system:release.mitigated")
	if s := flips(t, es[4]); s != "new-checkout → off; banner → plain" {
		t.Fatalf("summary %q", s)
	}
	hasDetails(t, es[4], map[string]any{"reason": "its canary analysis aborted the rollout in job deploy: error rate 7% is above 1%"})
	if !es[4].At.Equal(es[3].At) {
		t.Fatalf("abort at %s, flip at %s: not the same transaction", es[3].At, es[4].At)
	}
	// The repeated abort report and the job's failure flip nothing again.
	if _, err := f.d.Rollout(ctx, "r", a.Key, status(2, shipgate.RolloutAborted, 1, 0, fail)); err != nil {
		t.Fatal(err)
	}
	f.finish("r", a.Key, failed("canary aborted: error rate 7% is above 1%", 1))
	f.expect(v2.ID, &seq, "system:job.finished system:release.failed")
	if cs := f.mitigations(v2.ID); len(cs) != 2 {
		t.Fatalf("mitigation changes %+v", cs)
	}
}

// An abort no analysis decided (the agent's message names no decision: a
// cancel, a timeout) flips nothing at the abort.
func testMitigateAbortWithoutVerdict(t *testing.T, f *dispFixture) {
	f.apply(mitigatedService(policyHealth))
	f.succeed("1")
	v2 := f.release("production", "2")
	seq := f.mark(v2.ID)
	a := f.claim(runner("r"))
	st := status(1, shipgate.RolloutAborted, 0, 0)
	st.Message = "rollout timed out after 10m"
	if _, err := f.d.Rollout(ctx, "r", a.Key, st); err != nil {
		t.Fatal(err)
	}
	f.expect(v2.ID, &seq, "system:job.started system:rollout.aborted")
	if nc := f.flag("new-checkout"); nc.Flag.Disabled {
		t.Fatalf("flipped on an abort without a verdict: %+v", nc)
	}
}

// An environment that requires approvals for flag changes does not hold
// a mitigation back.
func testMitigateNoApprovalWait(t *testing.T, f *dispFixture) {
	f.apply(mitigatedService(policyHealth, `      flag_approvals: {required: 2}`))
	f.succeed("1")
	v2 := f.release("production", "2")
	f.failHealth(v2)
	if nc := f.flag("new-checkout"); !nc.Flag.Disabled || nc.Flag.Served() != "off" {
		t.Fatalf("new-checkout under flag_approvals: %+v", nc)
	}
	for _, c := range f.mitigations(v2.ID) {
		if c.State != shipgate.FlagChangeApplied {
			t.Fatalf("mitigation waits: %+v", c)
		}
	}
}
