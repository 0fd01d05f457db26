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
func serviceOnWeb1(t *testing.T, engine string) (*fixture, *client.NewAgentToken, *client.AgentRegistration, *client.AgentRegistration) {
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
	return f, tok, w1, w2
}

// A service job waits for the agent that runs its service while that agent
// is online and still has the labels runs_on asks for; relabelling it (the
// service moves) lets another matching agent take the job.
func TestServiceJobWaitsForItsAgent(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			f, tok, w1, w2 := serviceOnWeb1(t, engine)
			// While web-1 runs the service, web-2 does not get its next rollout.
			a2 := client.NewAgent(f.srv.URL, w2.Secret)
			id := homeRelease(t, f, "2")
			if _, ok, err := a2.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c2", Wait: time.Second}); ok || err != nil {
				t.Fatalf("web-2 took the rollout of a service web-1 runs: %v %v", ok, err)
			}
			if v, err := f.client("viewer").Release(ctx, id); err != nil || !strings.Contains(v.Jobs[0].Reason, "waits for agent web-1, which runs this service") {
				t.Fatalf("the queued job does not say what it waits for: %+v %v", v.Jobs, err)
			}
			// The operator moves the service: web-1 is relabelled (restarted
			// with other labels; it proves itself with its secret).
			if _, err := rejoin(f, tok.Secret, "web-1", map[string]string{"role": "retired"}, w1.Secret); err != nil {
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
	f, _, _, w2 := serviceOnWeb1(t, "sqlite")
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

// The agent that runs a service but whose join token no longer covers the
// environment (it re-joined with a production-only token) never gets the
// service's staging rollout: the job is not kept for it, release show says
// why it waits, and an agent that may take staging jobs gets it.
func TestServiceJobNotKeptForAnAgentOutsideItsEnvs(t *testing.T) {
	f, tok, w1, _ := serviceOnWeb1(t, "sqlite")
	admin := f.client("admin")
	if err := admin.RevokeAgentToken(ctx, tok.Token.ID); err != nil { // web-2 goes with it
		t.Fatal(err)
	}
	prodOnly, err := admin.CreateScopedAgentToken(ctx, client.CreateAgentTokenRequest{Name: "prod", Envs: []string{"production"}})
	if err != nil {
		t.Fatal(err)
	}
	w1, err = rejoin(f, prodOnly.Secret, "web-1", map[string]string{"role": "web"}, w1.Secret)
	if err != nil {
		t.Fatal(err)
	}
	id := homeRelease(t, f, "2")
	if asg, ok, err := client.NewAgent(f.srv.URL, w1.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "c2", Wait: 200 * time.Millisecond}); ok || err != nil {
		t.Fatalf("web-1, limited to production, got the staging rollout: %+v %v", asg, err)
	}
	v, err := f.client("viewer").Release(ctx, id)
	if err != nil || strings.Contains(v.Jobs[0].Reason, "waits for agent web-1") || !strings.Contains(v.Jobs[0].Reason, "may take jobs of environment staging") {
		t.Fatalf("queued job: %+v %v", v.Jobs, err)
	}
	stgOnly, _ := admin.CreateScopedAgentToken(ctx, client.CreateAgentTokenRequest{Name: "stg", Envs: []string{"staging"}})
	w3, err := register(t, f, stgOnly.Secret, "web-3", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	if asg, ok, err := client.NewAgent(f.srv.URL, w3.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "c3", Wait: 2 * time.Second}); !ok || err != nil || asg.Key.ReleaseID != id {
		t.Fatalf("web-3, a staging agent: %+v %v %v", asg, ok, err)
	}
}
