package reconcile_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// labelService's job asks for two runner labels.
const labelService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: web, zone: a}
        steps: [{run: "true"}]
`

// A job goes to a runner with every label it asks for (more are fine),
// under a lease of LeaseTTL; the claim starts attempt 1 and records
// job.started once.
func testClaimLabels(t *testing.T, f *dispFixture) {
	f.apply(labelService)
	r := f.release("staging", "1.0")
	seq := f.mark(r.ID)
	for _, ri := range []shipgate.RunnerInfo{runner("bare"), runner("db-1", "role=db", "zone=a"), runner("half", "role=web"), runner("wrong", "role=web", "zone=b")} {
		f.noClaim(ri)
	}
	f.expect(r.ID, &seq, "")
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobQueued || j.Attempt != 0 || j.Runner != "" {
		t.Fatalf("after claims by runners without the labels: %+v", j)
	}
	now := f.clock.Now()
	a := f.claim(runner("web-1", "role=web", "zone=a", "disk=ssd"))
	j := f.job(r.ID, "deploy")
	want := shipgate.AttemptKey{ReleaseID: r.ID, Run: 1, Job: "deploy", Attempt: 1}
	if a.Key != want || a.JobID != j.ID || a.Service != "web" || a.Env != "staging" || a.Version != "1.0" || a.Artifact != r.Artifact ||
		a.Job.Name != "deploy" || !a.LeaseUntil.Equal(now.Add(leaseTTL)) || a.LeaseTTL != shipgate.Duration(leaseTTL) || a.Secrets != nil || a.Watch != 0 {
		t.Fatalf("assignment %+v", a)
	}
	if j.State != shipgate.JobRunning || j.Attempt != 1 || j.Runner != "web-1" || !timeIs(j.LeaseUntil, now.Add(leaseTTL)) ||
		!timeIs(j.StartedAt, now) || j.FinishedAt != nil || j.Cause != "" || j.Reason != "" || j.ExitCode != nil {
		t.Fatalf("claimed job %+v", j)
	}
	es := f.expect(r.ID, &seq, "system:job.started")
	hasDetails(t, es[0], map[string]any{"job": "deploy", "run": 1, "attempt": 1, "runner": "web-1"})
	// Nothing is left to hand out.
	f.noClaim(runner("web-2", "role=web", "zone=a"))
	f.expect(r.ID, &seq, "")
}

// A runner limited to some environments (its join token's) takes jobs of
// those only; one limited to none takes any.
func testClaimEnvironments(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	r := f.release("staging", "1.0")
	f.noClaim(shipgate.RunnerInfo{Name: "prod-1", Envs: []string{"production"}})
	if j := f.job(r.ID, "deploy"); j.State != shipgate.JobQueued {
		t.Fatalf("deploy is %s after a production-only claim", j.State)
	}
	a := f.claim(shipgate.RunnerInfo{Name: "both", Envs: []string{"production", "staging"}})
	if a.Key.ReleaseID != r.ID || a.Env != "staging" {
		t.Fatalf("claim %+v", a.Key)
	}
	p := f.release("production", "1.0")
	if a := f.claim(runner("any")); a.Key.ReleaseID != p.ID {
		t.Fatalf("an unlimited runner got %+v, want production release %d", a.Key, p.ID)
	}
}

// homeService's job runs a service: its next rollout waits for the agent
// that ran it.
const homeService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: rollout
        runs_on: {role: web}
        service:
          exec: ["./app"]
          listen: 127.0.0.1:18080
`

// A service job waits for the agent that last ran it while that agent is
// online and not draining; a drained or lost home gives the job to any
// matching runner.
func testClaimServiceHome(t *testing.T, f *dispFixture) {
	const lostAfter = 45 * time.Second
	f.d.LostAfter = lostAfter
	f.apply(homeService)
	ids := f.agents(lostAfter, "web-1", "web-2")
	w1, w2 := runner("web-1", "role=web"), runner("web-2", "role=web")
	ship := func(version string, want shipgate.RunnerInfo, refused ...shipgate.RunnerInfo) {
		t.Helper()
		r := f.release("staging", version)
		for _, ri := range refused {
			f.noClaim(ri)
			if j := f.job(r.ID, "rollout"); j.State != shipgate.JobQueued || j.Attempt != 0 {
				t.Fatalf("release %s: %s's claim left the job %s attempt %d", version, ri.Name, j.State, j.Attempt)
			}
		}
		a := f.claim(want)
		f.finish(want.Name, a.Key, ok0)
		if got := f.find(r.ID); got.State != shipgate.StateSucceeded {
			t.Fatalf("release %s is %s: %s", version, got.State, got.Reason)
		}
	}
	ship("1", w1)     // never ran: any matching runner
	ship("2", w1, w2) // web-1 runs it now
	drain := func(name string, on bool) {
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.SetAgentDraining(ctx, "admin", name, on); return err })
	}
	drain("web-1", true)
	ship("3", w2) // a drained home gives it up
	drain("web-1", false)
	ship("4", w2, w1) // web-2 is its home now
	// web-2 falls silent past LostAfter while web-1 keeps in touch.
	f.clock.Add(lostAfter + time.Second)
	if err := f.db.TouchAgent(ctx, ids["web-1"]); err != nil {
		t.Fatal(err)
	}
	ship("5", w1)
}

// sealedKey names the secret input of the releases testClaimSecrets makes.
const sealedKey = "token"

// A claim opens the release's secret inputs with the server's key and
// hands them out; a job whose secrets cannot be opened (another key, or no
// key) is failed with cause refused instead, never started, and its
// release fails.
func testClaimSecrets(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	key := make([]byte, shipgate.SecretKeySize)
	box, _ := shipgate.NewSecretBox(key)
	key2 := make([]byte, shipgate.SecretKeySize)
	key2[0] = 1
	otherBox, _ := shipgate.NewSecretBox(key2)
	withSecret := func(version string) *shipgate.Release {
		return f.create(sqlstore.NewRelease{Service: "web", Environment: "staging", Version: version, Artifact: testutil.Artifact(version), CreatedBy: "carol",
			Secrets: map[string]sqlstore.SealedSecret{sealedKey: {Sealed: box.Seal(sealedKey, "s3cret"), Fingerprint: box.Fingerprint(sealedKey, "s3cret")}}})
	}
	f.d.Secrets = box
	r := withSecret("1")
	a := f.claim(runner("r"))
	if !maps.Equal(a.Secrets, map[string]string{sealedKey: "s3cret"}) {
		t.Fatalf("secrets handed out: %v", a.Secrets)
	}
	f.finish("r", a.Key, ok0)
	if got := f.find(r.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("release %s", got.State)
	}
	for _, c := range []struct {
		version string
		box     *shipgate.SecretBox
		reason  string
	}{
		{"other-key", otherBox, "SHIPGATE_SECRET_KEY"},
		{"no-key", nil, "has secret inputs but this server has no secret key"},
	} {
		f.d.Secrets = c.box
		r := withSecret(c.version)
		seq := f.mark(r.ID)
		work := f.d.Work.C()
		f.noClaim(runner("r"))
		if !notified(work) {
			t.Fatal("a refused job did not wake waiting claims")
		}
		j := f.job(r.ID, "deploy")
		if j.State != shipgate.JobFailed || j.Cause != shipgate.JobCauseRefused || j.Attempt != 0 || j.Runner != "" || j.StartedAt != nil ||
			!timeIs(j.FinishedAt, f.clock.Now()) || !strings.Contains(j.Reason, c.reason) {
			t.Fatalf("refused job: %+v", j)
		}
		got := f.find(r.ID)
		if got.State != shipgate.StateFailed || got.Reason != "job deploy failed: "+j.Reason {
			t.Fatalf("release %s %q", got.State, got.Reason)
		}
		es := f.expect(r.ID, &seq, "system:job.finished system:release.failed")
		hasDetails(t, es[0], map[string]any{"job": "deploy", "run": 1, "attempt": 0, "state": shipgate.JobFailed, "reason": j.Reason})
		f.noClaim(runner("r"))
		f.expect(r.ID, &seq, "")
	}
}

// Only jobs of running releases are handed out, and only of their current
// run: a release queued behind another has none, a cancelled one's are
// gone, and a rerun's claims are of run 2, starting at attempt 1.
func testClaimOnlyRunningCurrentRun(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	first := f.release("staging", "1")
	second := f.release("staging", "2")
	if second.State != shipgate.StateQueued {
		t.Fatalf("second release is %s", second.State)
	}
	a := f.claim(runner("r"))
	if a.Key.ReleaseID != first.ID {
		t.Fatalf("claimed %+v", a.Key)
	}
	f.noClaim(runner("r")) // verify waits for deploy; the second release has no run
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "carol", first.ID, "wrong build")
		return err
	})
	f.noClaim(runner("r")) // nothing of the cancelled release
	f.plan()               // the second starts now the first ended
	a = f.claim(runner("r"))
	if a.Key != (shipgate.AttemptKey{ReleaseID: second.ID, Run: 1, Job: "deploy", Attempt: 1}) {
		t.Fatalf("claimed %+v", a.Key)
	}
	f.finish("r", a.Key, ok0)
	a = f.claim(runner("r"))
	f.finish("r", a.Key, failed("verify broke", 1))
	if got := f.find(second.ID); got.State != shipgate.StateFailed {
		t.Fatalf("second release %s", got.State)
	}
	f.noClaim(runner("r"))
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RerunRelease(ctx, tx, "carol", second.ID); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, second.ID)
		return err
	})
	a = f.claim(runner("r"))
	if a.Key != (shipgate.AttemptKey{ReleaseID: second.ID, Run: 2, Job: "deploy", Attempt: 1}) {
		t.Fatalf("claim after rerun: %+v", a.Key)
	}
}

// A claim repeated with its ClaimID gets the same assignment and starts
// nothing new; another runner repeating the id gets nothing of it.
func testClaimIdempotent(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	r := f.release("staging", "1")
	f.release("staging", "2") // queued behind: there is nothing else to hand out
	seq := f.mark(r.ID)
	req := shipgate.ClaimRequest{Runner: runner("a1"), ClaimID: "c-1"}
	first, ok, err := f.d.Claim(ctx, req)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	f.clock.Add(time.Second)
	again, ok, err := f.d.Claim(ctx, req)
	if err != nil || !ok || again.Key != first.Key || !again.LeaseUntil.Equal(first.LeaseUntil) {
		t.Fatalf("repeated claim: %+v %v %v, want %+v", again, ok, err, first)
	}
	if a, ok, err := f.d.Claim(ctx, shipgate.ClaimRequest{Runner: runner("a2"), ClaimID: "c-1"}); ok || err != nil {
		t.Fatalf("a2 repeating a1's claim id got %+v %v", a, err)
	}
	f.expect(r.ID, &seq, "system:job.started")
	if j := f.job(r.ID, "deploy"); j.Attempt != 1 || j.Runner != "a1" {
		t.Fatalf("job %+v", j)
	}
}

// A claim with Wait joins the queue of waiting claims and is answered when
// work appears and the Work signal fires; a waiting claim gets only a job
// it is eligible for; a claim whose context ends leaves the queue with the
// context's error; one whose wait runs out gets nothing.
func testClaimWaits(t *testing.T, f *dispFixture) {
	f.apply(labelService)
	if a, ok, err := f.d.Claim(ctx, shipgate.ClaimRequest{Runner: runner("idle"), Wait: time.Millisecond}); ok || err != nil || a != nil {
		t.Fatalf("a wait with no work: %+v %v %v", a, ok, err)
	}
	type answer struct {
		a   *shipgate.Assignment
		ok  bool
		err error
	}
	dbCtx, stopDB := context.WithCancel(ctx)
	defer stopDB()
	var wg sync.WaitGroup
	answers := map[string]*answer{"db-1": {}, "web-1": {}}
	wait := func(c context.Context, ri shipgate.RunnerInfo) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans := answers[ri.Name]
			ans.a, ans.ok, ans.err = f.d.Claim(c, shipgate.ClaimRequest{Runner: ri, ClaimID: "w-" + ri.Name, Wait: time.Minute})
		}()
	}
	wait(dbCtx, runner("db-1", "role=db", "zone=a"))
	testutil.WaitFor(t, "db-1's claim to wait", func() bool { return f.d.Waiting() == 1 })
	wait(ctx, runner("web-1", "role=web", "zone=a"))
	testutil.WaitFor(t, "both claims to wait", func() bool { return f.d.Waiting() == 2 })
	r := f.release("staging", "1")
	f.d.Work.Notify()
	testutil.WaitFor(t, "web-1's claim to be answered", func() bool { return f.d.Waiting() == 1 })
	stopDB()
	wg.Wait()
	if web := answers["web-1"]; web.err != nil || !web.ok || web.a.Key != (shipgate.AttemptKey{ReleaseID: r.ID, Run: 1, Job: "deploy", Attempt: 1}) {
		t.Fatalf("web-1's waiting claim: %+v %v %v", web.a, web.ok, web.err)
	}
	if db := answers["db-1"]; db.err != context.Canceled || db.ok || db.a != nil {
		t.Fatalf("db-1's cancelled claim: %+v %v %v", db.a, db.ok, db.err)
	}
	if f.d.Waiting() != 0 {
		t.Fatalf("%d claims still wait", f.d.Waiting())
	}
	j := f.job(r.ID, "deploy")
	if j.State != shipgate.JobRunning || j.Runner != "web-1" || j.Attempt != 1 {
		t.Fatalf("job %+v", j)
	}
	held, err := f.d.Held(ctx, "web-1")
	if err != nil || len(held) != 1 || held[0].ClaimID != "w-web-1" || held[0].Key != answers["web-1"].a.Key {
		t.Fatalf("held by web-1: %+v %v", held, err)
	}
	seq := int64(0)
	f.expect(r.ID, &seq, "carol:release.created system:release.queued system:release.started system:job.started")
}

// agents registers agents labelled role=web with a join token, through
// the store, and returns their ids by name.
func (f *dispFixture) agents(lostAfter time.Duration, names ...string) map[string]int64 {
	f.t.Helper()
	secret := shipgate.NewSecret(shipgate.AgentTokenPrefix)
	ids := map[string]int64{}
	testutil.Update(f.t, f.db, func(tx *sqlstore.Tx) error {
		if _, err := tx.CreateAgentToken(ctx, "admin", sqlstore.NewAgentToken{Name: "hosts"}, secret); err != nil {
			return err
		}
		for _, name := range names {
			a := &shipgate.Agent{Name: name, Labels: map[string]string{"role": "web"}, Version: "test", Hostname: name, InstanceID: name}
			if err := tx.RegisterAgent(ctx, sqlstore.Join{Token: secret, Agent: a, Secret: shipgate.NewSecret(shipgate.AgentSecretPrefix), LostAfter: lostAfter}); err != nil {
				return err
			}
			ids[name] = a.ID
		}
		return nil
	})
	return ids
}

// waitingClaim is a claim with Wait made in the background.
type waitingClaim struct {
	stop func()
	done chan struct{}
	a    *shipgate.Assignment
	ok   bool
	err  error
}

// wait starts a claim by ri that waits up to a minute, and returns once
// the dispatcher counts it among the waiting claims.
func (f *dispFixture) wait(ri shipgate.RunnerInfo) *waitingClaim {
	f.t.Helper()
	c, stop := context.WithCancel(ctx)
	w := &waitingClaim{stop: stop, done: make(chan struct{})}
	before := f.d.Waiting()
	go func() {
		defer close(w.done)
		w.a, w.ok, w.err = f.d.Claim(c, shipgate.ClaimRequest{Runner: ri, ClaimID: "w-" + ri.Name, Wait: time.Minute})
	}()
	f.t.Cleanup(func() { stop(); <-w.done })
	testutil.WaitFor(f.t, ri.Name+"'s claim to wait", func() bool { return f.d.Waiting() == before+1 })
	return w
}

// abandon ends the waiting claim and asserts it got nothing.
func (w *waitingClaim) abandon(t *testing.T) {
	t.Helper()
	w.stop()
	<-w.done
	if w.err != context.Canceled || w.ok || w.a != nil {
		t.Fatalf("an abandoned waiting claim: %+v %v %v", w.a, w.ok, w.err)
	}
}

// The pass that serves waiting claims, in arrival order, skips the claim
// of an agent drained since it began waiting: the next claim gets the job.
func testClaimWaitsDrained(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	f.agents(time.Minute, "web-1", "web-2")
	first := f.wait(runner("web-1", "role=web"))
	second := f.wait(runner("web-2", "role=web"))
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error { _, err := tx.SetAgentDraining(ctx, "admin", "web-1", true); return err })
	r := f.release("staging", "1")
	f.d.Work.Notify()
	select {
	case <-first.done:
		t.Fatalf("the drained agent's waiting claim was answered: %+v %v %v", first.a, first.ok, first.err)
	case <-second.done:
	}
	if second.err != nil || !second.ok || second.a.Key.ReleaseID != r.ID {
		t.Fatalf("web-2's waiting claim: %+v %v %v", second.a, second.ok, second.err)
	}
	first.abandon(t)
	if j := f.job(r.ID, "deploy"); j.Runner != "web-2" || j.Attempt != 1 {
		t.Fatalf("job %+v", j)
	}
}

// The pass that serves waiting claims fails a job whose secrets it cannot
// open (cause refused) instead of handing it out; the claim keeps waiting.
func testClaimWaitsRefused(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	box, _ := shipgate.NewSecretBox(make([]byte, shipgate.SecretKeySize))
	w := f.wait(runner("r"))
	r := f.create(sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "1", Artifact: testutil.Artifact("1"), CreatedBy: "carol",
		Secrets: map[string]sqlstore.SealedSecret{sealedKey: {Sealed: box.Seal(sealedKey, "v"), Fingerprint: box.Fingerprint(sealedKey, "v")}}})
	f.d.Work.Notify()
	testutil.WaitFor(t, "the job to be refused", func() bool { return f.job(r.ID, "deploy").State == shipgate.JobFailed })
	j := f.job(r.ID, "deploy")
	if j.Cause != shipgate.JobCauseRefused || j.Attempt != 0 || !strings.Contains(j.Reason, "has secret inputs but this server has no secret key") {
		t.Fatalf("refused job %+v", j)
	}
	if got := f.find(r.ID); got.State != shipgate.StateFailed {
		t.Fatalf("release %s", got.State)
	}
	seq := int64(0)
	f.expect(r.ID, &seq, "carol:release.created system:release.queued system:release.started system:job.finished system:release.failed")
	if f.d.Waiting() != 1 {
		t.Fatalf("%d claims wait, want the one that got nothing", f.d.Waiting())
	}
	w.abandon(t)
}
