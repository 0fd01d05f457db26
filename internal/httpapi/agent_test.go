package httpapi_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// agentFixture is a server with a service whose staging job runs on
// role=web agents, and one release of it waiting to be claimed.
func agentFixture(t *testing.T) (*fixture, string, int64) {
	f := newFixture(t)
	admin := f.client("admin")
	svc := strings.Replace(agentService, "ROLE", "web", 1)
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(svc)); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	v, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	return f, tok.Secret, v.ID
}

const agentService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: deploy
        runs_on: {role: ROLE}
        steps: [{run: "true"}]
`

func register(t *testing.T, f *fixture, token, name string, labels map[string]string) (*client.AgentRegistration, error) {
	c := client.New(f.srv.URL, token)
	return c.RegisterAgent(ctx, client.RegisterAgentRequest{Name: name, Labels: labels, Version: "test", Hostname: "h"})
}

func TestAgentProtocolRefusals(t *testing.T) {
	f, token, _ := agentFixture(t)
	if _, err := register(t, f, "sga_unknown", "web-1", nil); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED || !strings.Contains(err.Error(), "agent token is not valid") {
		t.Fatalf("unknown agent token: %v", err)
	}
	if _, err := register(t, f, f.tokens["admin"], "web-1", nil); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("a user token registering an agent: %v", err)
	}
	web, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := register(t, f, token, "db-1", map[string]string{"role": "db"})
	a1, a2 := client.NewAgent(f.srv.URL, web.Secret), client.NewAgent(f.srv.URL, other.Secret)

	// The job goes only to a matching agent.
	if got, ok, err := a2.Claim(ctx, shipgate.ClaimRequest{ClaimID: "x", Wait: 50 * time.Millisecond}); ok || err != nil {
		t.Fatalf("db agent got %+v %v", got, err)
	}
	asg, ok, err := a1.Claim(ctx, shipgate.ClaimRequest{ClaimID: "y", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("web agent: %v %v", ok, err)
	}
	// The attempt is web-1's: another agent can neither report nor log it.
	if err := a2.Finish(ctx, "", asg.Key, shipgate.JobOutcome{Succeeded: true}); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "not held by runner db-1") {
		t.Fatalf("finish by another agent: %v", err)
	}
	if hb, err := a2.Heartbeat(ctx, "", asg.Key); err != nil || !hb.Cancel {
		t.Fatalf("heartbeat by another agent: %+v %v", hb, err)
	}
	if _, err := a2.Artifact(ctx, "", asg.Key); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("artifact by another agent: %v", err)
	}
	body, err := a1.Artifact(ctx, "", asg.Key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "artifact" {
		t.Fatalf("artifact = %q", b)
	}
	// Oversized chunks are refused with a clear error.
	err = a1.AppendLogs(ctx, "", asg.Key, []shipgate.LogChunk{{Seq: 1, Stream: "stdout", Data: strings.Repeat("x", 65<<10)}})
	if shipgate.ErrorCode(err) != shipgate.ETOOLARGE || !strings.Contains(err.Error(), "log chunk 1 is 66560 bytes; the limit is 65536") {
		t.Fatalf("oversized chunk: %v", err)
	}
	// Registering the same name again replaces the old secret.
	again, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Held(ctx, ""); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("replaced secret still works: %v", err)
	}
	a1 = client.NewAgent(f.srv.URL, again.Secret)
	if held, err := a1.Held(ctx, ""); err != nil || len(held) != 1 || held[0].Key != asg.Key {
		t.Fatalf("held after re-registration: %v %v", held, err)
	}
	// Revoking the join token cuts off its agents and further joins.
	toks, _ := f.client("admin").AgentTokens(ctx)
	if err := f.client("admin").RevokeAgentToken(ctx, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Heartbeat(ctx, "", asg.Key); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("agent of a revoked token: %v", err)
	}
	if _, err := register(t, f, token, "web-2", nil); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("join with a revoked token: %v", err)
	}
	// Only admins manage agent tokens and drains; viewers may list agents.
	if _, err := f.client("carol").CreateAgentToken(ctx, "x"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("deployer creating an agent token: %v", err)
	}
	if _, err := f.client("viewer").DrainAgent(ctx, "web-1", true); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer draining: %v", err)
	}
	agents, err := f.client("viewer").Agents(ctx)
	if err != nil || len(agents) != 2 || agents[1].Name != "web-1" || agents[1].State != shipgate.AgentOnline {
		t.Fatalf("agents: %+v %v", agents, err)
	}
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatal(n, err)
	}
}

func TestDrainingAgentGetsNoWork(t *testing.T) {
	f, token, id := agentFixture(t)
	reason := func() string {
		v, err := f.client("viewer").Release(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return v.Jobs[0].Reason
	}
	if got := reason(); got != "waiting for a runner with labels role=web; no online agent has these labels" {
		t.Fatalf("before any agent: %q", got)
	}
	reg, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if got := reason(); got != "waiting for a runner with labels role=web" {
		t.Fatalf("with a matching agent online: %q", got)
	}
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.client("admin").DrainAgent(ctx, "web-1", true); err != nil || a.State != shipgate.AgentDraining {
		t.Fatalf("drain: %+v %v", a, err)
	}
	if got := reason(); !strings.HasSuffix(got, "no online agent has these labels") {
		t.Fatalf("with the only agent draining: %q", got)
	}
	a := client.NewAgent(f.srv.URL, reg.Secret)
	if got, ok, err := a.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: 100 * time.Millisecond}); ok || err != nil {
		t.Fatalf("draining agent got %+v %v", got, err)
	}
	f.client("admin").DrainAgent(ctx, "web-1", false)
	if _, ok, err := a.Claim(ctx, shipgate.ClaimRequest{ClaimID: "d", Wait: time.Second}); !ok || err != nil {
		t.Fatalf("resumed agent: %v %v", ok, err)
	}
}

func TestSilentAgentIsLost(t *testing.T) {
	f, token, _ := agentFixture(t)
	f.h.AgentLostAfter = 200 * time.Millisecond
	if _, err := register(t, f, token, "web-1", map[string]string{"role": "web"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		agents, err := f.client("viewer").Agents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if agents[0].State == shipgate.AgentLost {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent still %s after a silence ten times its lost-after", agents[0].State)
		}
		<-time.After(50 * time.Millisecond)
	}
}

func TestAgentNameCannotBeTakenOver(t *testing.T) {
	f, token, _ := agentFixture(t)
	join := func(tok, instance string) error {
		_, err := client.New(f.srv.URL, tok).RegisterAgent(ctx, client.RegisterAgentRequest{Name: "web-1", Labels: map[string]string{"role": "web"}, InstanceID: instance})
		return err
	}
	if err := join(token, "inst-a"); err != nil {
		t.Fatal(err)
	}
	if err := join(token, "inst-a"); err != nil {
		t.Fatalf("the same instance re-joining: %v", err)
	}
	if err := join(token, "inst-b"); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "in use by another running agent") {
		t.Fatalf("another live instance taking the name: %v", err)
	}
	other, _ := f.client("admin").CreateAgentToken(ctx, "other")
	if err := join(other.Secret, "inst-a"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "belongs to agent token") {
		t.Fatalf("joining a name with another token: %v", err)
	}
	// Once the first agent counts as lost, another instance may take over.
	f.h.AgentLostAfter = time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for err := join(token, "inst-b"); err != nil; err = join(token, "inst-b") {
		if time.Now().After(deadline) {
			t.Fatalf("taking over a lost agent's name: %v", err)
		}
	}
}
