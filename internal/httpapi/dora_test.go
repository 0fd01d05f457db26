package httpapi_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

func TestDORAMetrics(t *testing.T) {
	f := newFixture(t)
	admin, carol, viewer := f.client("admin"), f.client("carol"), f.client("viewer")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(rollbackAPIService)); err != nil {
		t.Fatal(err)
	}
	create := func(req client.CreateReleaseRequest) (*client.ReleaseView, error) {
		p := filepath.Join(t.TempDir(), req.Version+".tar")
		os.WriteFile(p, []byte(req.Version), 0o644)
		req.Service, req.Environment, req.Artifact = "web", "staging", p
		return carol.CreateRelease(ctx, req)
	}
	v1, _ := create(client.CreateReleaseRequest{Version: "1.0"})
	f.run(t, 0)
	v2, _ := create(client.CreateReleaseRequest{Version: "2.0"})
	f.run(t, v2.ID) // fails before serving: a failed attempt, until a hotfix says it degraded staging

	empty, err := viewer.DORA(ctx, client.DORAQuery{Since: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if m := empty.Totals; m.Deployments != 1 || m.FailedAttempts != 1 || m.ChangeFailRate == nil || *m.ChangeFailRate != 0 || !slices.Equal(empty.FailedAttempts, []int64{v2.ID}) {
		t.Fatalf("before the hotfix: %+v attempts %v", m, empty.FailedAttempts)
	}

	if _, err := create(client.CreateReleaseRequest{Version: "2.1", Fixes: v2.ID}); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("fixes without hotfix: %v", err)
	}
	fix, err := create(client.CreateReleaseRequest{Version: "2.1", Hotfix: true, Fixes: v2.ID})
	if err != nil || fix.HotfixOf != v2.ID {
		t.Fatalf("hotfix: %v", err)
	}
	f.run(t, 0)

	rep, err := viewer.DORA(ctx, client.DORAQuery{Service: "web", Environment: "staging", Since: "1h", Bucket: "day"})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Totals
	if m.Deployments != 3 || m.FailedDeployments != 1 || m.Rework != 1 || m.Recovered != 1 || m.FailedAttempts != 0 {
		t.Fatalf("after the hotfix: %+v", m)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Release != v2.ID || rep.Failures[0].RecoveredBy != "fix_forward" || rep.Failures[0].RecoveredWith != fix.ID ||
		!slices.Equal(rep.Failures[0].Causes, []string{"hotfix", "release_failed"}) {
		t.Fatalf("failures %+v", rep.Failures)
	}
	if len(rep.Breakdown) != 1 || rep.Breakdown[0].Environment != "staging" || rep.Bucket != "day" || len(rep.Trend) != 1 || rep.Deployments[0].Release != v1.ID {
		t.Fatalf("breakdown %+v trend %+v", rep.Breakdown, rep.Trend)
	}
	if other, _ := viewer.DORA(ctx, client.DORAQuery{Environment: "prod"}); other.Totals.Deployments != 0 || other.Totals.ChangeFailRate != nil {
		t.Fatalf("prod has none: %+v", other.Totals)
	}

	for _, q := range []string{"since=yesterday", "bucket=month", "since=400d", "since=2026-01-02T00:00:00Z&until=2025-01-01T00:00:00Z", "until=soon"} {
		if code, out := f.raw(t, "GET", "/api/v1/metrics/dora?"+q, f.tokens["viewer"], nil); code != 400 || errorCode(out) != shipgate.EINVALID {
			t.Fatalf("%s: %d %v", q, code, out)
		}
	}
	if code, _ := f.raw(t, "GET", "/api/v1/metrics/dora", "", nil); code != 401 {
		t.Fatalf("without a token: %d", code)
	}
}
