package httpapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

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

func homeRelease(t *testing.T, f *fixture, v string) int64 {
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"+v), 0o644)
	r, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: v, Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// serviceOnWeb1 applies homeService, lets agent web-1 run its first
// release, and registers web-2 with the same labels.
func serviceOnWeb1(t *testing.T, engine string) (*fixture, *client.NewAgentToken, *client.AgentRegistration) {
	t.Helper()
	f := newFixtureOn(t, engine)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(homeService)); err != nil {
		t.Fatal(err)
	}
	tok, _ := admin.CreateAgentToken(ctx, "hosts")
	w1, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	a1 := client.NewAgent(f.srv.URL, w1.Secret)
	homeRelease(t, f, "1")
	asg, ok, err := a1.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c1", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("web-1 first claim: %v %v", ok, err)
	}
	zero := 0
	if err := a1.Finish(ctx, "", asg.Key, shipgate.JobOutcome{Succeeded: true, ExitCode: &zero}); err != nil {
		t.Fatal(err)
	}
	w2, err := register(t, f, tok.Secret, "web-2", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	return f, tok, w2
}

// A service job waits for the agent that runs its service while that agent
// is online and still has the labels runs_on asks for; relabelling it (the
// service moves) lets another matching agent take the job.
func TestServiceJobWaitsForItsAgent(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			f, tok, w2 := serviceOnWeb1(t, engine)
			// While web-1 runs the service, web-2 does not get its next rollout.
			a2 := client.NewAgent(f.srv.URL, w2.Secret)
			id := homeRelease(t, f, "2")
			if _, ok, err := a2.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c2", Wait: time.Second}); ok || err != nil {
				t.Fatalf("web-2 took the rollout of a service web-1 runs: %v %v", ok, err)
			}
			if v, err := f.client("viewer").Release(ctx, id); err != nil || !strings.Contains(v.Jobs[0].Reason, "waits for agent web-1, which runs this service") {
				t.Fatalf("the queued job does not say what it waits for: %+v %v", v.Jobs, err)
			}
			// The operator moves the service: web-1 is relabelled.
			if _, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "retired"}); err != nil {
				t.Fatal(err)
			}
			a, ok, err := a2.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c3", Wait: 2 * time.Second})
			if err != nil || !ok || a.Key.ReleaseID != id {
				v, _ := f.client("viewer").Release(ctx, id)
				t.Fatalf("after web-1 was relabelled, web-2's claim: %v %v; job %s %q", ok, err, v.Jobs[0].State, v.Jobs[0].Reason)
			}
		})
	}
}

// A drained home gives its service up at once: the queued job no longer
// names it, and another matching agent takes the rollout.
func TestServiceJobLeavesADrainedAgent(t *testing.T) {
	f, _, w2 := serviceOnWeb1(t, "sqlite")
	admin := f.client("admin")
	id := homeRelease(t, f, "2")
	if _, err := admin.DrainAgent(ctx, "web-1", true); err != nil {
		t.Fatal(err)
	}
	if v, err := f.client("viewer").Release(ctx, id); err != nil || strings.Contains(v.Jobs[0].Reason, "waits for agent") {
		t.Fatalf("the job still waits for the drained agent: %+v %v", v.Jobs, err)
	}
	a, ok, err := client.NewAgent(f.srv.URL, w2.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "c2", Wait: 2 * time.Second})
	if err != nil || !ok || a.Key.ReleaseID != id {
		t.Fatalf("web-2's claim with web-1 drained: %v %v", ok, err)
	}
}
