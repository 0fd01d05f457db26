package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// TestDeploymentEventsCarryWhatDORAToolsRead: the deployed, rolled back and
// failed events a Four Keys-style pipeline consumes name the artifact by
// digest, the environment, the change (commit, ref, commit time) and the
// team, and still validate against the CDEvents schemas.
func TestDeploymentEventsCarryWhatDORAToolsRead(t *testing.T) {
	loadSchemas(t)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	committed := at.Add(-3 * time.Hour)
	r := &shipgate.Release{ID: 12, Run: 1, SucceededAt: &at, FinishedAt: &at}
	r.Service, r.Environment, r.Version, r.Kind, r.Owner = "web", "production", "2.0.0", shipgate.ReleaseKindDeploy, "payments-team"
	r.Artifact = shipgate.Artifact{Location: "dist/web.tgz", SHA256: strings.Repeat("ab", 32), Size: 10}
	r.Source = shipgate.Source{Commit: "9f2c1e0", Ref: "refs/heads/main", CommittedAt: &committed}
	r.CreatedAt = at.Add(-10 * time.Minute)
	rb := *r
	rb.ID, rb.Kind, rb.RollbackOf, rb.RestoresRelease, rb.TriggeredBy, rb.Version = 13, shipgate.ReleaseKindRollback, 12, 11, "policy", "1.9.0"
	q := cdeventsEnqueuers()[1]
	for _, c := range []struct {
		rel    *shipgate.Release
		action string
		typ    string
	}{
		{r, shipgate.ActionReleaseSucceeded, "dev.cdevents.service.deployed.0.2.0"},
		{r, shipgate.ActionReleaseFailed, "dev.cdevents.pipelinerun.finished.0.2.0"},
		{&rb, shipgate.ActionReleaseSucceeded, "dev.cdevents.service.rolledback.0.2.0"},
	} {
		e := shipgate.NewAuditEvent(shipgate.SystemActor, c.action, "release/12", map[string]any{"reason": "deploy exited with status 1"})
		e.Seq, e.At = 77, at
		ev, ok := classify(e, c.rel)
		if !ok || ev.Type != c.typ {
			t.Fatalf("%s: type %q, want %q", c.action, ev.Type, c.typ)
		}
		body, err := q.render(q.Sinks[0], ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := validateCloudEvent(body); err != nil {
			t.Fatalf("%s: %v\n%s", c.typ, err, body)
		}
		var got struct {
			Data struct {
				CustomData struct {
					Environment string `json:"environment"`
					Owner       string `json:"owner"`
					CreatedAt   string `json:"createdAt"`
					Artifact    struct {
						ID     string `json:"id"`
						SHA256 string `json:"sha256"`
					} `json:"artifact"`
					Change struct {
						Commit      string `json:"commit"`
						Ref         string `json:"ref"`
						CommittedAt string `json:"committedAt"`
					} `json:"change"`
					RollbackOf      int64 `json:"rollbackOf"`
					RestoresRelease int64 `json:"restoresRelease"`
				} `json:"customData"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		cd := got.Data.CustomData
		if cd.Environment != "production" || cd.Owner != "payments-team" || cd.Artifact.SHA256 != r.Artifact.SHA256 ||
			!strings.HasPrefix(cd.Artifact.ID, "pkg:generic/web@") || cd.Change.Commit != "9f2c1e0" ||
			cd.Change.Ref != "refs/heads/main" || cd.Change.CommittedAt != "2026-03-02T07:00:00Z" || cd.CreatedAt != "2026-03-02T09:50:00Z" {
			t.Fatalf("%s customData lacks what DORA tools read: %+v", c.typ, cd)
		}
		if c.rel == &rb && (cd.RollbackOf != 12 || cd.RestoresRelease != 11) {
			t.Fatalf("rollback event: %+v", cd)
		}
	}
}
