package httpapi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/testutil"
)

// A person calls off the pending rollback of a failed release: the
// release stays failed, the rollback never fires, even long after its
// delay, the call-off is on the release's timeline in their name with
// their reason, and every refusal says why in words.
func TestRollbackCallOff(t *testing.T) {
	f := newFixture(t)
	clock := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	f.db.Now = clock.Now
	f.addUser(t, "alice", []shipgate.Role{shipgate.RoleApprover})
	admin, carol, alice, viewer := f.client("admin"), f.client("carol"), f.client("alice"), f.client("viewer")
	svc := strings.Replace(rollbackAPIService, "delay_seconds: 0", "delay_seconds: 600", 1)
	if _, err := admin.Apply(ctx, "web.yaml", []byte(svc)); err != nil {
		t.Fatal(err)
	}
	create := func(v string) *client.ReleaseView {
		t.Helper()
		p := filepath.Join(t.TempDir(), v+".tar")
		os.WriteFile(p, []byte("artifact "+v), 0o644)
		r, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: v, Artifact: p})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = alice.Approve(ctx, r.ID, r.Digest, "looks right"); err != nil {
			t.Fatal(err)
		}
		return r
	}
	v1 := create("1.0")
	f.run(t, 0)
	v2 := create("2.0")
	f.run(t, v2.ID)
	got, err := admin.Release(ctx, v2.ID)
	if err != nil || got.State != shipgate.StateFailed || got.Rollback == nil || got.Rollback.State != shipgate.RollbackPending {
		t.Fatalf("v2 before: %v %+v", err, got)
	}
	path := fmt.Sprintf("/api/v1/releases/%d/rollback/call-off", v2.ID)

	// A viewer may not; a reason is required and must be one line.
	if _, err := viewer.CallOffRollback(ctx, v2.ID, "not mine to say"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer: %v", err)
	}
	for _, tc := range []struct{ body, msg string }{
		{``, "the request body is empty"},
		{`{}`, "reason is required"},
		{`{"reason":"  "}`, "reason is required"},
		{`{"reason":"two\nlines"}`, "reason"},
		{`{"reason":"` + strings.Repeat("x", shipgate.MaxCommentLen+1) + `"}`, "reason"},
	} {
		code, out := f.raw(t, "POST", path, f.tokens["carol"], []byte(tc.body))
		if code != 400 || !strings.Contains(message(out), tc.msg) {
			t.Errorf("body %.40q: %d %v", tc.body, code, out)
		}
	}
	if got, _ := admin.Release(ctx, v2.ID); got.Rollback.State != shipgate.RollbackPending {
		t.Fatalf("a refused call-off changed the rollback: %+v", got.Rollback)
	}

	v, err := carol.CallOffRollback(ctx, v2.ID, "the errors came from the load balancer, not 2.0")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != shipgate.StateFailed || v.Rollback == nil || v.Rollback.State != shipgate.RollbackCalledOff || v.Rollback.FiresAt != nil ||
		v.Rollback.Reason != "called off by carol: the errors came from the load balancer, not 2.0" {
		t.Fatalf("after the call-off: %s %+v", v.State, v.Rollback)
	}
	var off *shipgate.AuditEvent
	for i, e := range v.Timeline {
		if e.Action == shipgate.ActionRollbackCalledOff {
			off = &v.Timeline[i]
		}
	}
	if off == nil || off.Actor != "carol" || !strings.Contains(string(off.Details), `"called_by":"person"`) ||
		!strings.Contains(string(off.Details), `"reason":"the errors came from the load balancer, not 2.0"`) {
		t.Fatalf("rollback.called_off on the timeline: %+v\n%s", off, timelineString(v.Timeline))
	}

	// Long after its delay, nothing has fired: no rollback release, v2
	// still failed, v1's version not deployed again.
	before, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100})
	clock.Add(time.Hour)
	if _, err := reconcile.NewReconciler(f.db, nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	f.run(t, 0)
	after, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100})
	if len(after) != len(before) {
		t.Fatalf("a called-off rollback created a release: %d → %d", len(before), len(after))
	}
	if got, _ := admin.Release(ctx, v2.ID); got.State != shipgate.StateFailed || got.Rollback.State != shipgate.RollbackCalledOff || got.Rollback.RollbackRelease != 0 {
		t.Fatalf("v2 an hour later: %s %+v", got.State, got.Rollback)
	}
	for _, r := range after {
		if r.RollbackOf == v2.ID {
			t.Fatalf("release %d rolls v2 back", r.ID)
		}
	}

	// A second call-off, and one of a release without a rollback or of
	// no release at all, are refused in words.
	_, err = carol.CallOffRollback(ctx, v2.ID, "again")
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "is called_off; only a pending or held rollback can be called off") {
		t.Fatalf("second call-off: %v", err)
	}
	if _, err = carol.CallOffRollback(ctx, v1.ID, "nothing to call off"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "has no rollback") {
		t.Fatalf("call-off without a rollback: %v", err)
	}
	if _, err = carol.CallOffRollback(ctx, 999, "no such release"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("call-off of release 999: %v", err)
	}
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit verify: %d %v", n, err)
	}
}
