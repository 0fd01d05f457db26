package httpapi_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// TestGateKPIs: a promote denied by policy and allowed on the next try is
// a flaky policy failure; the figures name the release; bad filters are
// refused with what to do.
func TestGateKPIs(t *testing.T) {
	f := newFixture(t)
	admin, carol := f.client("admin"), f.client("carol")
	if _, err := admin.ApplyPolicy(ctx, client.PolicyFile{Filename: "steps.rego", Source: promotePolicy}); err != nil {
		t.Fatal(err)
	}
	svc := strings.Replace(agentService, "ROLE", "web", 1)
	svc = strings.Replace(svc, "[{name: staging}]", "[{name: staging, policies: [steps]}]", 1)
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(svc)); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	v, err := carol.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	ag := client.NewAgent(f.srv.URL, reg.Secret)
	asg, ok, err := ag.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if _, err := ag.Rollout(ctx, "", asg.Key, rollout(1, shipgate.RolloutPaused, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Promote(ctx, v.ID, "looks fine"); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("promote without a ticket: %v", err)
	}
	if _, err := carol.Promote(ctx, v.ID, "CHG-9 dashboards green"); err != nil {
		t.Fatal(err)
	}

	k, err := carol.GateKPIs(ctx, client.KPIQuery{Service: "web", Environment: "staging", Since: "7d"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Releases != 1 || !reflect.DeepEqual(k.ReleaseIDs, []int64{v.ID}) || k.Filter.Until.Sub(k.Filter.Since) != 7*24*time.Hour {
		t.Fatalf("releases %v in %+v", k.ReleaseIDs, k.Filter)
	}
	var promote *shipgate.GateFigure
	for i := range k.Gates {
		if g := &k.Gates[i]; g.Kind == shipgate.GateKindPolicy && g.Name == shipgate.PolicyPointPromote {
			promote = g
		}
	}
	if promote == nil || promote.Passed != 1 || promote.Failed != 1 || promote.Flaky != 1 || promote.FlakinessRate != 1 || !reflect.DeepEqual(promote.FlakyReleases, []int64{v.ID}) {
		t.Fatalf("promote gate %+v in %+v", promote, k.Gates)
	}
	if k.Canaries.Count != 1 || k.Canaries.Aborted != 0 || !reflect.DeepEqual(k.Canaries.Releases, []int64{v.ID}) {
		t.Fatalf("canaries %+v", k.Canaries)
	}
	// The default window is 30 days.
	if k, err := carol.GateKPIs(ctx, client.KPIQuery{}); err != nil || k.Filter.Until.Sub(k.Filter.Since) != 30*24*time.Hour || k.Releases != 1 {
		t.Fatalf("default window: %+v %v", k, err)
	}
	// A window before the release holds nothing.
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	if k, err := carol.GateKPIs(ctx, client.KPIQuery{Since: "1h", Until: old}); err != nil || k.Releases != 0 || len(k.Gates) != 0 {
		t.Fatalf("old window: %+v %v", k, err)
	}

	for _, tc := range []struct {
		q    client.KPIQuery
		code string
		msg  string
	}{
		{client.KPIQuery{Service: "nope"}, shipgate.ENOTFOUND, "nope"},
		{client.KPIQuery{Environment: "prod"}, shipgate.EINVALID, `environment "prod" is not declared by any service and no release was ever made to it`},
		{client.KPIQuery{Team: "nobody"}, shipgate.EINVALID, `team "nobody" owns no service`},
		{client.KPIQuery{Since: "0d"}, shipgate.EINVALID, `since "0d" is not a window: use a positive number of days`},
		{client.KPIQuery{Since: "400d"}, shipgate.EINVALID, `since "400d" is longer than the longest window, 366d`},
		{client.KPIQuery{Since: "2020-01-01T00:00:00Z"}, shipgate.EINVALID, "longer than the longest, 366d"},
		{client.KPIQuery{Until: "yesterday"}, shipgate.EINVALID, `until="yesterday" is not an RFC 3339 time`},
		{client.KPIQuery{Since: "2030-01-01T00:00:00Z"}, shipgate.EINVALID, "must be before until"},
	} {
		_, err := carol.GateKPIs(ctx, tc.q)
		if shipgate.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want %s %q", tc.q, err, tc.code, tc.msg)
		}
	}
}
