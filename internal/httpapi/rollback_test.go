package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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

	// A manual rollback to 0.9, which never ran in prod, is refused up
	// front (412): it would skip prod's windows, canary and approval with
	// staging's inputs. Nothing is created; the refusal is on record.
	before, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100})
	_, err := carol.Rollback(ctx, client.RollbackRequest{Service: "web", Environment: "prod", ToVersion: "0.9", Reason: "0.9 was fine"})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "0.9 never succeeded in prod; deploy it with `shipgate release create`") {
		t.Fatalf("rollback to a version that never ran here: %v", err)
	}
	if after, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100}); len(after) != len(before) {
		t.Fatalf("a refused rollback created a release: %d → %d", len(before), len(after))
	}
	got, _ := admin.Release(ctx, v1.ID)
	if got.Rollback != nil || !timelineHas(got.Timeline, shipgate.ActionRollbackRefused, "0.9 never succeeded in prod") || !timelineHas(got.Timeline, shipgate.ActionRollbackRefused, `"reason":"0.9 was fine"`) {
		t.Fatalf("refusal not on record: %+v %s", got.Rollback, timelineString(got.Timeline))
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

// A manual rollback says why in the audit log; one to a version whose
// artifact is gone from the store is refused with the reason (409), creates
// nothing, and is on record as rollback.refused.
func TestManualRollbackReasonAndUnavailableArtifact(t *testing.T) {
	f := newFixture(t)
	f.db.ArtifactCheck = f.h.Dispatcher.CheckArtifact // as serve wires it
	admin, carol := f.client("admin"), f.client("carol")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(strings.Replace(rollbackAPIService, "approvals: {required: 1}", "approvals: {required: 0}", 1))); err != nil {
		t.Fatal(err)
	}
	create := func(v string) *client.ReleaseView {
		p := filepath.Join(t.TempDir(), v+".tar")
		os.WriteFile(p, []byte("artifact "+v), 0o644)
		r, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: v, Artifact: p})
		if err != nil {
			t.Fatal(err)
		}
		f.run(t, 0)
		return r
	}
	v1 := create("1.0")
	v2 := create("2.0")

	// A reason that is not one line of text is refused before anything.
	code, body := f.raw(t, "POST", "/api/v1/rollbacks", f.tokens["carol"], []byte(`{"service":"web","environment":"prod","reason":"a\u0007b"}`))
	if msg, _ := json.Marshal(body); code != 400 || !strings.Contains(string(msg), "reason contains the control character") {
		t.Fatalf("bad reason: %d %v", code, body)
	}
	rr, err := carol.Rollback(ctx, client.RollbackRequest{Service: "web", Environment: "prod", Reason: "checkout errors since 2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if rr.RestoresRelease != v1.ID {
		t.Fatalf("rollback restores %d", rr.RestoresRelease)
	}
	got, _ := admin.Release(ctx, v2.ID)
	if !timelineHas(got.Timeline, shipgate.ActionRollbackFired, `"reason":"checkout errors since 2.0"`) || !strings.Contains(got.Rollback.Reason, "checkout errors since 2.0") {
		t.Fatalf("the reason is not on record: %+v %s", got.Rollback, timelineString(got.Timeline))
	}
	if rv, _ := admin.Release(ctx, rr.ID); !timelineHas(rv.Timeline, shipgate.ActionReleaseCreated, `"reason":"checkout errors since 2.0"`) {
		t.Fatalf("rollback release's timeline: %s", timelineString(rv.Timeline))
	}
	f.run(t, 0)

	// 1.0's bytes leave the store (artifact gc); 2.0 is current again.
	v3 := create("2.1")
	if err := f.h.Dispatcher.Artifacts.Remove(v2.Artifact.SHA256); err != nil {
		t.Fatal(err)
	}
	before, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100})
	_, err = carol.Rollback(ctx, client.RollbackRequest{Service: "web", Environment: "prod", ToVersion: "2.0", Reason: "try 2.0"})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "cannot roll back to version 2.0") || !strings.Contains(err.Error(), "the stored copy of sha256:"+v2.Artifact.SHA256[:12]+"… is missing") {
		t.Fatalf("rollback to a removed artifact: %v", err)
	}
	// The deployer is told what is missing, not where the server keeps it.
	if dir := f.h.Dispatcher.Artifacts.Dir(); strings.Contains(err.Error(), dir) {
		t.Fatalf("the refusal names the artifact store's path: %v", err)
	}
	after, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100})
	if len(after) != len(before) {
		t.Fatalf("a refused rollback created a release: %d → %d", len(before), len(after))
	}
	got, _ = admin.Release(ctx, v3.ID)
	if got.Rollback != nil || !timelineHas(got.Timeline, shipgate.ActionRollbackRefused, `"reason":"try 2.0"`) || !timelineHas(got.Timeline, shipgate.ActionRollbackRefused, "is missing") ||
		strings.Contains(timelineString(got.Timeline), f.h.Dispatcher.Artifacts.Dir()) {
		t.Fatalf("refusal not on record, or with a server path: %+v %s", got.Rollback, timelineString(got.Timeline))
	}
	// Bytes changed with their size kept pass the check inside the write
	// transaction (it never reads them), but a manual rollback hashes them
	// first, outside it, and is refused.
	blob := filepath.Join(f.h.Dispatcher.Artifacts.Dir(), "sha256", v1.Artifact.SHA256)
	os.Chmod(blob, 0o600)
	if err := os.WriteFile(blob, []byte("ARTIFACT 1.0"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = carol.Rollback(ctx, client.RollbackRequest{Service: "web", Environment: "prod", ToVersion: "1.0"})
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("manual rollback to same-size damaged bytes: %v", err)
	}
	if after, _ := admin.Releases(ctx, shipgate.ReleaseFilter{Limit: 100}); len(after) != len(before) {
		t.Fatalf("a refused rollback created a release: %d → %d", len(before), len(after))
	}
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit verify: %d %v", n, err)
	}
}

func timelineHas(events []shipgate.AuditEvent, action, detail string) bool {
	for _, e := range events {
		if e.Action == action && strings.Contains(string(e.Details), detail) {
			return true
		}
	}
	return false
}

func timelineString(events []shipgate.AuditEvent) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Action + " " + string(e.Details) + "\n")
	}
	return b.String()
}

// The body of rollback hold and now is optional: no body at all, whether
// sent with Content-Length: 0 or chunked, is the same as {}. A body that is
// there must be a JSON object, as on every other endpoint: null, a string
// or an array is refused (400) before anything is looked up. Release 999
// does not exist, so an accepted body gets 404.
func TestRollbackActionOptionalBody(t *testing.T) {
	f := newFixture(t)
	send := func(path string, body []byte, chunked bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(body))
		if chunked {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = -1
			req.TransferEncoding = []string{"chunked"}
		}
		req.Header.Set("Authorization", "Bearer "+f.tokens["carol"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if chunked && resp.Request.TransferEncoding == nil {
			t.Fatal("the request was not sent chunked")
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, action := range []string{"hold", "now"} {
		path := "/api/v1/releases/999/rollback/" + action
		for _, tc := range []struct {
			name    string
			body    string
			chunked bool
			code    int
			msg     string
		}{
			{"no body", "", false, 404, ""},
			{"empty chunked body", "", true, 404, ""},
			{"blank chunked body", " \n", true, 404, ""},
			{"empty object", "{}", false, 404, ""},
			{"object chunked", `{"reason":"deploy freeze"}`, true, 404, ""},
			{"null", "null", false, 400, "must be a JSON object"},
			{"null chunked", "null", true, 400, "must be a JSON object"},
			{"string", `"wait"`, false, 400, "must be a JSON object"},
			{"array", `[]`, false, 400, "must be a JSON object"},
			{"unknown field", `{"why":"x"}`, false, 400, "unknown field"},
		} {
			code, body := send(path, []byte(tc.body), tc.chunked)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Errorf("%s %s: %d %s", action, tc.name, code, body)
			}
		}
	}
}
