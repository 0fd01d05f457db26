package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
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

// rejoin registers name again as the agent holding secret current.
func rejoin(f *fixture, token, name string, labels map[string]string, current string) (*client.AgentRegistration, error) {
	return client.New(f.srv.URL, token).RegisterAgent(ctx, client.RegisterAgentRequest{Name: name, Labels: labels, Version: "test", Hostname: "h", CurrentSecret: current})
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
	// The agent registering its name again (a restart, proving itself with
	// its secret) replaces the old secret.
	again, err := rejoin(f, token, "web-1", map[string]string{"role": "web"}, web.Secret)
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
	testutil.WaitForNil(t, "the silent agent to be lost", func() error {
		agents, err := f.client("viewer").Agents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if agents[0].State != shipgate.AgentLost {
			return fmt.Errorf("agent still %s", agents[0].State)
		}
		return nil
	})
}

// A live agent's name cannot be taken by someone holding its join token and
// its instance id (which was shown to every viewer): only the agent's own
// secret re-registers it while it is live. Viewers no longer see instance
// ids at all.
func TestAgentNameCannotBeTakenOver(t *testing.T) {
	f, token, _ := agentFixture(t)
	join := func(tok, instance, current string) (*client.AgentRegistration, error) {
		return client.New(f.srv.URL, tok).RegisterAgent(ctx, client.RegisterAgentRequest{Name: "web-1", Labels: map[string]string{"role": "web"}, InstanceID: instance, CurrentSecret: current})
	}
	reg, err := join(token, "inst-a", "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "web-1") || strings.Contains(string(body), "inst-a") || strings.Contains(string(body), "instance_id") {
		t.Fatalf("a viewer sees the instance id: %d %s", resp.StatusCode, body)
	}
	if viewed, err := f.client("viewer").Agents(ctx); err != nil || len(viewed) != 1 || viewed[0].InstanceID != "" {
		t.Fatalf("viewer's agent list: %+v %v", viewed, err)
	}
	if admins, err := f.client("admin").Agents(ctx); err != nil || len(admins) != 1 || admins[0].InstanceID != "inst-a" {
		t.Fatalf("admin's agent list: %+v %v", admins, err)
	}

	// The copied instance id proves nothing.
	if _, err := join(token, "inst-a", ""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "in use by a live agent") {
		t.Fatalf("a takeover with the copied instance id: %v", err)
	}
	e := f.lastEvent(t)
	if e.Action != shipgate.ActionAgentJoinRefused || e.Subject != "agent/web-1" || !strings.Contains(string(e.Details), "in use by a live agent") {
		t.Fatalf("the refused takeover is not audited: %+v %s", e, e.Details)
	}
	if _, err := client.NewAgent(f.srv.URL, reg.Secret).Held(ctx, ""); err != nil {
		t.Fatalf("the live agent lost its secret to the refused takeover: %v", err)
	}
	// The agent itself, restarting, proves itself with its secret.
	again, err := join(token, "inst-a", reg.Secret)
	if err != nil {
		t.Fatalf("the agent re-registering with its secret: %v", err)
	}
	other, _ := f.client("admin").CreateAgentToken(ctx, "other")
	if _, err := join(other.Secret, "inst-a", again.Secret); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "belongs to agent token") {
		t.Fatalf("joining a name with another token: %v", err)
	}
	// Once the agent counts as lost, its join token alone takes the name.
	f.h.AgentLostAfter = time.Millisecond
	testutil.WaitForNil(t, "the join token to take over the lost agent's name", func() error {
		_, err := join(token, "inst-b", "")
		return err
	})
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatal(n, err)
	}
}

// A scoped join token admits only agents whose labels agree with its
// scope, never one with a "shipgate." label; a refusal is a 403 that says
// which label and what the scope wants, audited though nothing was
// registered. Its agents take only jobs of its environments.
func TestScopedJoinToken(t *testing.T) {
	f, unscoped, id := agentFixture(t) // a staging release for role=web
	admin := f.client("admin")
	scoped, err := admin.CreateScopedAgentToken(ctx, client.CreateAgentTokenRequest{Name: "web-a",
		Scope: map[string]string{"role": "web", "zone": "a"}, Envs: []string{"production"}, ExpiresIn: shipgate.Duration(720 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []client.CreateAgentTokenRequest{
		{Scope: map[string]string{"shipgate.local": "true"}},
		{Envs: []string{"no such env!"}},
	} {
		if _, err := admin.CreateScopedAgentToken(ctx, bad); shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Fatalf("token %+v: %v", bad, err)
		}
	}
	tokens, err := admin.AgentTokens(ctx)
	if err != nil || len(tokens) != 2 || tokens[1].Scope["zone"] != "a" || len(tokens[1].Envs) != 1 || tokens[1].Envs[0] != "production" || tokens[1].ExpiresAt == nil {
		t.Fatalf("agent tokens: %+v %v", tokens, err)
	}

	for _, c := range []struct {
		token  string
		labels map[string]string
		want   string
	}{
		{scoped.Secret, map[string]string{"role": "db", "zone": "a"}, "label role=db is outside it (the scope wants role=web)"},
		{scoped.Secret, map[string]string{"role": "web"}, "must have label zone=a"},
		{unscoped, map[string]string{"role": "web", "shipgate.local": "true"}, "label shipgate.local is reserved for the server"},
	} {
		// Each case joins under a name of its own: repeated refusals of
		// one name are counted into one event per window (refusal.go).
		name := fmt.Sprintf("web-%d", len(c.want))
		before, _ := f.db.VerifyAudit(ctx)
		status, out := f.raw(t, "POST", "/api/v1/agent/register", c.token, []byte(fmt.Sprintf(`{"name":%q,"labels":%s}`, name, mustJSON(c.labels))))
		msg := fmt.Sprint(out["error"])
		if status != 403 || errorCode(out) != shipgate.EFORBIDDEN || !strings.Contains(msg, c.want) {
			t.Fatalf("join with %v: %d %v, want 403 %q", c.labels, status, out, c.want)
		}
		e := f.lastEvent(t)
		if after, _ := f.db.VerifyAudit(ctx); after != before+1 || e.Action != shipgate.ActionAgentJoinRefused || e.Subject != "agent/"+name ||
			!strings.HasPrefix(e.Actor, "agent-token/") || !strings.Contains(string(e.Details), c.want) {
			t.Fatalf("refusal audited as %+v %s (%d → %d events)", e, e.Details, before, after)
		}
	}
	if agents, _ := admin.Agents(ctx); len(agents) != 0 {
		t.Fatalf("refused joins registered %+v", agents)
	}
	// A join token is no user token.
	if _, err := client.New(f.srv.URL, scoped.Secret).Agents(ctx); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("a join token on a user route: %v", err)
	}

	// In scope: other labels are free. The agent is limited to production
	// and so never gets the staging job; an agent of the unscoped token does.
	prod, err := register(t, f, scoped.Secret, "web-a1", map[string]string{"role": "web", "zone": "a", "disk": "ssd"})
	if err != nil || len(prod.Agent.Envs) != 1 || prod.Agent.Envs[0] != "production" {
		t.Fatalf("in-scope join: %+v %v", prod, err)
	}
	if asg, ok, err := client.NewAgent(f.srv.URL, prod.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "p", Wait: 200 * time.Millisecond}); ok || err != nil {
		t.Fatalf("a production-only agent got %+v %v", asg, err)
	}
	v, err := f.client("viewer").Release(ctx, id)
	if err != nil || !strings.Contains(v.Jobs[0].Reason, "no online agent with these labels may take jobs of environment staging") {
		t.Fatalf("the waiting job does not say why: %+v %v", v.Jobs, err)
	}
	stg, err := register(t, f, unscoped, "web-s1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	// Nor is an agent secret.
	if _, err := client.New(f.srv.URL, stg.Secret).Agents(ctx); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("an agent secret on a user route: %v", err)
	}
	if asg, ok, err := client.NewAgent(f.srv.URL, stg.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "s", Wait: time.Second}); !ok || err != nil || asg.Key.ReleaseID != id {
		t.Fatalf("an unlimited agent's claim: %+v %v %v", asg, ok, err)
	}
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatal(n, err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A join token's holder cannot grow the audit log without bound with
// refused registrations: they are recorded up to a rate per token, and the
// ones beyond it are still refused.
func TestJoinRefusalsAreBounded(t *testing.T) {
	f, token, _ := agentFixture(t)
	// count returns the join refusals written one by one and the sum of
	// every count the log holds for them.
	count := func() (events, total int) {
		f.db.View(ctx, func(tx *sqlstore.Tx) error {
			list, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
			for _, e := range list {
				if e.Subject != "agent/web-1" || e.Action != shipgate.ActionAgentJoinRefused {
					continue
				}
				var d struct{ Count int }
				json.Unmarshal(e.Details, &d)
				events++
				total += d.Count
			}
			return err
		})
		return events, total
	}
	for i := 0; i < 25; i++ {
		if _, err := register(t, f, token, "web-1", map[string]string{"shipgate.local": "true"}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
			t.Fatalf("refusal %d: %v", i, err)
		}
	}
	if n, _ := count(); n != 1 {
		t.Fatalf("%d refusal events written during the window, want 1 (the rest are counted)", n)
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	if n, total := count(); n != 2 || total != 25 {
		t.Fatalf("after the window: %d events counting %d refusals, want 2 events counting all 25", n, total)
	}
}

// A shutting-down server answers a waiting claim at once, with no work,
// instead of holding its graceful shutdown up for the claim's minute; a
// claim that arrives afterwards does not wait either.
func TestStopWaitingAnswersWaitingClaims(t *testing.T) {
	f, token, _ := agentFixture(t)
	reg, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.NewAgent(f.srv.URL, reg.Secret)
	if _, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: "first", Wait: time.Second}); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	type answer struct {
		ok  bool
		err error
	}
	done := make(chan answer, 1)
	go func() {
		_, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: "second", Wait: time.Minute})
		done <- answer{ok, err}
	}()
	testutil.WaitFor(t, "the second claim to wait", func() bool { return f.h.Dispatcher.Waiting() == 1 })
	f.h.StopWaiting()
	if a := <-done; a.ok || a.err != nil {
		t.Fatalf("the waiting claim after StopWaiting: ok %v, err %v; want no work and no error", a.ok, a.err)
	}
	if _, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: "third", Wait: time.Minute}); ok || err != nil {
		t.Fatalf("a claim after StopWaiting: ok %v, err %v", ok, err)
	}
}
