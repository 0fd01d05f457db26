package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// A heartbeat of the holder extends the lease to now+LeaseTTL and records
// nothing; anyone else, and the holder of an attempt that has ended, is
// told to stop; an attempt of a job that does not exist is not found.
func testHeartbeat(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	r := f.release("staging", "1")
	a := f.claim(runner("r"))
	seq := f.mark(r.ID)
	f.clock.Add(20 * time.Second)
	hb, err := f.d.Heartbeat(ctx, "r", a.Key)
	if err != nil || hb.Cancel || hb.Reason != "" || !hb.LeaseUntil.Equal(f.clock.Now().Add(leaseTTL)) {
		t.Fatalf("heartbeat %+v %v", hb, err)
	}
	if j := f.job(r.ID, "deploy"); !timeIs(j.LeaseUntil, hb.LeaseUntil) || j.State != shipgate.JobRunning {
		t.Fatalf("job after a heartbeat: %+v", j)
	}
	other, err := f.d.Heartbeat(ctx, "other", a.Key)
	if err != nil || !other.Cancel || other.Reason != `attempt 1 of job deploy is not held by runner other (current attempt 1 on "r")` {
		t.Fatalf("heartbeat by another runner: %+v %v", other, err)
	}
	stale := a.Key
	stale.Attempt = 2
	if hb, err := f.d.Heartbeat(ctx, "r", stale); err != nil || !hb.Cancel || !strings.Contains(hb.Reason, "attempt 2 of job deploy is not held by runner r") {
		t.Fatalf("heartbeat of an attempt not started: %+v %v", hb, err)
	}
	if j := f.job(r.ID, "deploy"); !timeIs(j.LeaseUntil, hb.LeaseUntil) {
		t.Fatalf("a refused heartbeat moved the lease: %+v", j)
	}
	missing := a.Key
	missing.Job = "nope"
	if _, err := f.d.Heartbeat(ctx, "r", missing); code(err) != shipgate.ENOTFOUND {
		t.Fatalf("heartbeat of a job that does not exist: %v", err)
	}
	f.expect(r.ID, &seq, "")
	f.finish("r", a.Key, ok0)
	if hb, err := f.d.Heartbeat(ctx, "r", a.Key); err != nil || !hb.Cancel || hb.Reason != "job is succeeded: " {
		t.Fatalf("heartbeat of a finished attempt: %+v %v", hb, err)
	}
}

// Probes of a check attempt are stored (repeats once). Once the release
// has failed and its rollback waits, a recovery calls the rollback off,
// once, and the reply says stop; before that, and for other jobs'
// probes, the reply says go on.
func testProbesAndRecovery(t *testing.T, f *dispFixture) {
	_, v2, key, seq := rollbackPending(t, f)
	f.expect(v2.ID, &seq, "system:job.started system:job.finished system:release.failed system:rollback.pending")
	watch := []shipgate.ProbeResult{{Seq: 2, At: f.clock.Now(), OK: false}, {Seq: 3, At: f.clock.Now(), OK: true, Watch: true}}
	if reply, err := f.d.Probes(ctx, "r", key, watch, false); err != nil || reply.Stop {
		t.Fatalf("watch probes while the rollback waits: %+v %v", reply, err)
	}
	if _, err := f.d.Probes(ctx, "other", key, watch, true); code(err) != shipgate.ECONFLICT {
		t.Fatalf("probes by a runner not holding the attempt: %v", err)
	}
	f.expect(v2.ID, &seq, "")
	f.view(func(tx *sqlstore.Tx) error {
		all, err := tx.ListProbes(ctx, v2.ID, 1, 0)
		if err != nil {
			return err
		}
		if len(all) != 1 || all[0].Job != "health" || all[0].Attempt != 1 || len(all[0].Probes) != 3 || !all[0].Probes[2].OK || !all[0].Probes[2].Watch ||
			all[0].Probes[1].Reason != "connection refused" {
			t.Fatalf("stored probes %+v", all)
		}
		return nil
	})
	if reply, err := f.d.Probes(ctx, "r", key, nil, true); err != nil || !reply.Stop {
		t.Fatalf("recovery: %+v %v", reply, err)
	}
	es := f.expect(v2.ID, &seq, "system:rollback.called_off")
	hasDetails(t, es[0], map[string]any{"reason": "health check health recovered: it passed again after failing, before the rollback fired"})
	if reply, err := f.d.Probes(ctx, "r", key, nil, true); err != nil || !reply.Stop {
		t.Fatalf("repeated recovery: %+v %v", reply, err)
	}
	f.expect(v2.ID, &seq, "")
	// Called off, the rollback never fires.
	f.clock.Add(time.Hour)
	f.plan()
	f.expect(v2.ID, &seq, "")
	if got := f.find(v2.ID); got.State != shipgate.StateFailed {
		t.Fatalf("v2 %s", got.State)
	}
}

// A recovery reported while the release still runs (another job is not
// done) decides nothing: no rollback exists yet, and the reply says go on.
func testProbesWhileRunning(t *testing.T, f *dispFixture) {
	f.apply(rollbackService)
	r := f.release("production", "1")
	a := f.claim(runner("r"))
	seq := f.mark(r.ID)
	if reply, err := f.d.Probes(ctx, "r", a.Key, []shipgate.ProbeResult{{Seq: 1, At: f.clock.Now(), OK: true}}, true); err != nil || reply.Stop {
		t.Fatalf("probes of a running job: %+v %v", reply, err)
	}
	f.expect(r.ID, &seq, "")
}

func rolloutAt(seq int64, phase string, pause, weight int) shipgate.RolloutStatus {
	return shipgate.RolloutStatus{Seq: seq, Strategy: "canary", Phase: phase, Step: pause, Pause: pause, Steps: 4, Weight: weight,
		StableVersion: "1", CanaryVersion: "2", UpdatedAt: time.Date(2026, 3, 2, 10, 0, int(seq), 0, time.UTC)}
}

// Rollout reports of the holder are stored, each transition audited once;
// an older report changes nothing; a person's promotion comes back in the
// reply; after the job ended only a final status (aborted, promoted) is
// taken.
func testRolloutReports(t *testing.T, f *dispFixture) {
	f.apply(oneJobService)
	r := f.release("staging", "2")
	a := f.claim(runner("r"))
	seq := f.mark(r.ID)
	stored := func() shipgate.RolloutStatus {
		t.Helper()
		var ro *sqlstore.Rollout
		f.view(func(tx *sqlstore.Tx) error {
			var err error
			ro, err = tx.FindRollout(ctx, a.JobID, a.Key.Attempt)
			return err
		})
		return ro.Status
	}
	report := func(st shipgate.RolloutStatus, wantPromoted int, wantEvents string) {
		t.Helper()
		reply, err := f.d.Rollout(ctx, "r", a.Key, st)
		if err != nil || reply.PromotedThrough != wantPromoted {
			t.Fatalf("report seq %d %s: %+v %v", st.Seq, st.Phase, reply, err)
		}
		f.expect(r.ID, &seq, wantEvents)
	}
	report(rolloutAt(2, shipgate.RolloutProgressing, 1, 10), -1, "system:rollout.step")
	if s := stored(); s.Seq != 2 || s.Weight != 10 {
		t.Fatalf("stored %+v", s)
	}
	report(rolloutAt(1, shipgate.RolloutPaused, 1, 0), -1, "") // older: ignored
	if s := stored(); s.Seq != 2 || s.Phase != shipgate.RolloutProgressing {
		t.Fatalf("an older report replaced the stored one: %+v", s)
	}
	paused := rolloutAt(3, shipgate.RolloutPaused, 1, 10)
	paused.Paused = "manual pause"
	report(paused, -1, "system:rollout.paused")
	report(paused, -1, "") // repeated
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.PromoteRollout(ctx, tx, "carol", r.ID, "fine")
		return err
	})
	f.expect(r.ID, &seq, "carol:rollout.promoted")
	report(rolloutAt(4, shipgate.RolloutProgressing, 2, 50), 1, "system:rollout.step")
	if _, err := f.d.Rollout(ctx, "other", a.Key, rolloutAt(5, shipgate.RolloutProgressing, 3, 70)); code(err) != shipgate.ECONFLICT {
		t.Fatalf("report by another runner: %v", err)
	}
	f.finish("r", a.Key, shipgate.JobOutcome{Reason: "rollout aborted"})
	f.expect(r.ID, &seq, "system:job.finished system:release.failed")
	for _, phase := range []string{shipgate.RolloutProgressing, shipgate.RolloutPaused, shipgate.RolloutStarting} {
		reply, err := f.d.Rollout(ctx, "r", a.Key, rolloutAt(5, phase, 2, 50))
		if code(err) != shipgate.ECONFLICT || reply.PromotedThrough != -1 || !strings.Contains(err.Error(), "only a final rollout status (aborted or promoted) is taken now") {
			t.Fatalf("%s report after the job ended: %+v %v", phase, reply, err)
		}
	}
	aborted := rolloutAt(6, shipgate.RolloutAborted, 2, 0)
	aborted.Message = "cancelled"
	report(aborted, 1, "system:rollout.aborted")
	aborted.Seq = 7
	report(aborted, 1, "")
	if s := stored(); s.Seq != 7 || s.Phase != shipgate.RolloutAborted {
		t.Fatalf("stored after the abort: %+v", s)
	}
}

// Log chunks of the holder are stored (a resent chunk once); a batch with
// a chunk over the limit is refused whole; logs of someone else's attempt
// are refused; the holder may still send the tail after the job ended.
// Held lists what a runner holds, with the claim id.
func testLogsAndHeld(t *testing.T, f *dispFixture) {
	f.apply(dispService)
	r := f.release("staging", "1")
	a, ok, err := f.d.Claim(ctx, shipgate.ClaimRequest{Runner: runner("r"), ClaimID: "inst-1/c1"})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if held, err := f.d.Held(ctx, "r"); err != nil || len(held) != 1 || held[0] != (shipgate.HeldAttempt{Key: a.Key, ClaimID: "inst-1/c1"}) {
		t.Fatalf("held by r: %+v %v", held, err)
	}
	if held, err := f.d.Held(ctx, "nobody"); err != nil || held == nil || len(held) != 0 {
		t.Fatalf("held by nobody: %#v %v", held, err)
	}
	chunk := func(seq int64, data string) shipgate.LogChunk {
		return shipgate.LogChunk{Seq: seq, Stream: "stdout", Data: data, At: f.clock.Now()}
	}
	if err := f.d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(1, "one\n"), chunk(2, "two\n")}); err != nil {
		t.Fatal(err)
	}
	if err := f.d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(2, "two\n"), chunk(3, "three\n")}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", reconcile.MaxLogChunk+1)
	if err := f.d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(4, "four\n"), chunk(5, big)}); code(err) != shipgate.ETOOLARGE {
		t.Fatalf("oversized chunk: %v", err)
	}
	if err := f.d.AppendLogs(ctx, "other", a.Key, []shipgate.LogChunk{chunk(4, "intruder\n")}); code(err) != shipgate.ECONFLICT {
		t.Fatalf("logs by another runner: %v", err)
	}
	f.finish("r", a.Key, ok0)
	if held, err := f.d.Held(ctx, "r"); err != nil || len(held) != 0 {
		t.Fatalf("held after finish: %+v %v", held, err)
	}
	if err := f.d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(4, "tail\n")}); err != nil {
		t.Fatalf("the tail of a finished attempt: %v", err)
	}
	var text []string
	f.view(func(tx *sqlstore.Tx) error {
		chunks, err := tx.ListLogs(ctx, r.ID, 1, "deploy", 0, 0)
		for _, c := range chunks {
			text = append(text, c.Data)
		}
		return err
	})
	if got := strings.Join(text, ""); got != "one\ntwo\nthree\ntail\n" {
		t.Fatalf("stored log %q", got)
	}
}
