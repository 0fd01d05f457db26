package httpapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

const rollbackAPIService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: staging
    - name: prod
      approvals: {required: 1}
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 0}
  pipeline:
    jobs:
      - {name: deploy, steps: [{run: "true"}]}
`

// run finishes every claimable job: those of release failing fail.
func (f *fixture) run(t *testing.T, failing int64) {
	t.Helper()
	for {
		a, ok, err := f.h.Dispatcher.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		f.h.Dispatcher.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Succeeded: a.Key.ReleaseID != failing, Reason: "broken"})
	}
}

func TestRollbackReleaseRejectedOrInFlight(t *testing.T) {
	f := newFixture(t)
	// Approving needs the approver role: admin alone never approves.
	f.addUser(t, "alice", []shipgate.Role{shipgate.RoleApprover})
	admin, carol, alice := f.client("admin"), f.client("carol"), f.client("alice")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(rollbackAPIService)); err != nil {
		t.Fatal(err)
	}
	art := func(v string) string {
		p := filepath.Join(t.TempDir(), v+".tar")
		os.WriteFile(p, []byte(v), 0o644)
		return p
	}
	create := func(env, v string) *client.ReleaseView {
		r, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: env, Version: v, Artifact: art(v)})
		if err != nil {
			t.Fatal(err)
		}
		if r.State == shipgate.StatePendingApproval {
			if r, err = alice.Approve(ctx, r.ID, r.Digest, ""); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	create("staging", "0.9")
	f.run(t, 0)
	v1 := create("prod", "1.0")
	f.run(t, 0)

	// A manual rollback to 0.9, which never ran in prod, needs approval;
	// rejecting it ends the rollback as failed, for everyone to see.
	rr, err := carol.Rollback(ctx, client.RollbackRequest{Service: "web", Environment: "prod", ToVersion: "0.9"})
	if err != nil {
		t.Fatal(err)
	}
	if rr.State != shipgate.StatePendingApproval || rr.RollbackOf != v1.ID {
		t.Fatalf("rollback release %s of %d", rr.State, rr.RollbackOf)
	}
	if _, err := alice.Reject(ctx, rr.ID, rr.Digest, "not that one"); err != nil {
		t.Fatal(err)
	}
	got, _ := admin.Release(ctx, v1.ID)
	if got.Rollback == nil || got.Rollback.State != shipgate.RollbackFailed || !strings.Contains(got.Rollback.Reason, "rejected") {
		t.Fatalf("rollback after its release was rejected: %+v", got.Rollback)
	}

	// A policy rollback in flight: another one by hand is refused.
	v2 := create("prod", "2.0")
	a, ok, err := f.h.Dispatcher.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok || a.Key.ReleaseID != v2.ID {
		t.Fatalf("claim v2: %+v %v %v", a, ok, err)
	}
	f.h.Dispatcher.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Reason: "broken"})
	got, _ = admin.Release(ctx, v2.ID)
	if got.Rollback == nil || got.Rollback.State != shipgate.RollbackFired {
		t.Fatalf("v2 rollback: %+v", got.Rollback)
	}
	if _, err := carol.Rollback(ctx, client.RollbackRequest{Service: "web", Environment: "prod"}); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("manual rollback during a rollback: %v", err)
	}
	f.run(t, 0)
	if got, _ = admin.Release(ctx, v2.ID); got.State != shipgate.StateRolledBack {
		t.Fatalf("v2 %s", got.State)
	}
}
