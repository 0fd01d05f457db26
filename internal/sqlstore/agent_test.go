package sqlstore_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const lostAfter = 45 * time.Second

func mustAgentToken(t *testing.T, db *sqlstore.DB, secret string, nt sqlstore.NewAgentToken) *shipgate.AgentToken {
	t.Helper()
	var tok *shipgate.AgentToken
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		tok, err = tx.CreateAgentToken(ctx, "admin", nt, secret)
		return err
	})
	return tok
}

// join registers an agent and returns the secret it was given.
func join(db *sqlstore.DB, token, name, instance, current string, labels map[string]string) (*shipgate.Agent, string, error) {
	a := &shipgate.Agent{Name: name, Labels: labels, InstanceID: instance}
	secret := shipgate.NewSecret(shipgate.AgentSecretPrefix)
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		return tx.RegisterAgent(ctx, sqlstore.Join{Token: token, Agent: a, Secret: secret, Current: current, LostAfter: lostAfter})
	})
	return a, secret, err
}

func agentCount(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	db.View(ctx, func(tx *sqlstore.Tx) error {
		agents, err := tx.ListAgents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n = len(agents)
		return nil
	})
	return n
}

// A join token's scope decides which labels its agents may have; labels
// starting with "shipgate." are the server's alone; an expired token
// registers no new agent but its agents keep working.
func testAgentTokenScope(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	for _, bad := range []sqlstore.NewAgentToken{
		{Scope: map[string]string{"shipgate.local": "true"}},
		{Scope: map[string]string{"role": "a,b"}},
		{Envs: []string{"Prod!"}},
		{ExpiresIn: -time.Hour},
	} {
		err := db.Update(ctx, func(tx *sqlstore.Tx) error { _, err := tx.CreateAgentToken(ctx, "admin", bad, "sga_bad"); return err })
		if shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Errorf("token %+v: %v", bad, err)
		}
	}
	tok := mustAgentToken(t, db, "sga_web", sqlstore.NewAgentToken{Name: "web-hosts", Scope: map[string]string{"role": "web", "zone": "a"},
		Envs: []string{"staging", "production", "staging"}, ExpiresIn: 720 * time.Hour})
	mustAgentToken(t, db, "sga_any", sqlstore.NewAgentToken{Name: "anything"})
	var tokens []shipgate.AgentToken
	db.View(ctx, func(tx *sqlstore.Tx) error { var err error; tokens, err = tx.ListAgentTokens(ctx); return err })
	if len(tokens) != 2 || tokens[0].ID != tok.ID || tokens[0].Scope["role"] != "web" || tokens[0].Scope["zone"] != "a" || len(tokens[0].Scope) != 2 ||
		!slices.Equal(tokens[0].Envs, []string{"production", "staging"}) || tokens[0].ExpiresAt == nil || !tokens[0].ExpiresAt.Equal(clock.Now().Add(720*time.Hour)) ||
		len(tokens[1].Scope) != 0 || len(tokens[1].Envs) != 0 || tokens[1].ExpiresAt != nil {
		t.Fatalf("tokens: %+v", tokens)
	}

	before := verify(t, db)
	for _, c := range []struct {
		token  string
		labels map[string]string
		want   string
	}{
		{"sga_web", map[string]string{"role": "db", "zone": "a"}, "label role=db is outside it (the scope wants role=web)"},
		{"sga_web", map[string]string{"role": "web"}, "the agent must have label zone=a, and it has no label zone"},
		{"sga_web", map[string]string{"role": "web", "zone": "a", "shipgate.local": "true"}, "label shipgate.local is reserved for the server"},
		{"sga_any", map[string]string{"shipgate.local": "true"}, "label shipgate.local is reserved for the server"},
		{"sga_any", map[string]string{"Shipgate.Local": "true"}, "label Shipgate.Local is reserved for the server"},
	} {
		_, _, err := join(db, c.token, "web-1", "", "", c.labels)
		if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), c.want) {
			t.Errorf("join with %s %v: %v, want forbidden %q", c.token, c.labels, err, c.want)
		}
	}
	if n := agentCount(t, db); n != 0 || verify(t, db) != before {
		t.Fatalf("refused joins left %d agents, audit %d events (was %d)", n, verify(t, db), before)
	}

	a, secret, err := join(db, "sga_web", "web-1", "", "", map[string]string{"role": "web", "zone": "a", "disk": "ssd"})
	if err != nil {
		t.Fatalf("in-scope join: %v", err)
	}
	got, err := db.AuthenticateAgent(ctx, secret)
	if err != nil || got.ID != a.ID || !slices.Equal(got.Envs, []string{"production", "staging"}) || !got.Info().MayRun("staging") || got.Info().MayRun("dev") {
		t.Fatalf("agent of an env-limited token: %+v %v", got, err)
	}
	if other, _, err := join(db, "sga_any", "any-1", "", "", nil); err != nil || len(other.Envs) != 0 || !other.Info().MayRun("dev") {
		t.Fatalf("agent of an unlimited token: %+v %v", other, err)
	}

	// Past its expiry the token registers nobody new; its agent keeps its
	// secret and may re-register its own name with it.
	clock.Add(721 * time.Hour)
	if _, _, err := join(db, "sga_web", "web-2", "", "", map[string]string{"role": "web", "zone": "a"}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("join with an expired token: %v", err)
	}
	if _, err := db.AuthenticateAgent(ctx, secret); err != nil {
		t.Fatalf("the agent of an expired token: %v", err)
	}
	db.TouchAgent(ctx, a.ID)
	_, secret2, err := join(db, "sga_web", "web-1", "", secret, map[string]string{"role": "web", "zone": "a"})
	if err != nil {
		t.Fatalf("an agent re-registering itself with its expired token: %v", err)
	}
	// Without its secret, an expired token cannot take even a lost name.
	clock.Add(time.Hour)
	if _, _, err := join(db, "sga_web", "web-1", "", "", map[string]string{"role": "web", "zone": "a"}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a lost name taken with an expired token: %v", err)
	}
	// Revoking still cuts the agent off.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.RevokeAgentToken(ctx, "admin", tok.ID) })
	if _, err := db.AuthenticateAgent(ctx, secret2); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("agent of a revoked token: %v", err)
	}
	verify(t, db)
}

// Re-registering a live agent's name needs that agent's secret; its
// instance id, which is no secret, proves nothing. A lost agent's name is
// free to its join token.
func testAgentNameTakeover(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	mustAgentToken(t, db, "sga_hosts", sqlstore.NewAgentToken{Name: "hosts"})
	web := map[string]string{"role": "web"}
	_, s1, err := join(db, "sga_hosts", "web-1", "inst-a", "", web)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(10 * time.Second)
	for _, current := range []string{"", "sgs_guessed", "sga_hosts"} {
		_, _, err := join(db, "sga_hosts", "web-1", "inst-a", current, map[string]string{"role": "web", "zone": "prod"})
		if shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "in use by a live agent") {
			t.Fatalf("taking over a live name with its instance id and secret %q: %v", current, err)
		}
	}
	if _, err := db.AuthenticateAgent(ctx, s1); err != nil {
		t.Fatalf("the live agent lost its secret to a refused takeover: %v", err)
	}
	// The agent itself, restarted: its current secret is the proof (its
	// instance id may differ, e.g. a new work dir with the old secret).
	_, s2, err := join(db, "sga_hosts", "web-1", "inst-b", s1, web)
	if err != nil {
		t.Fatalf("the live agent re-registering with its secret: %v", err)
	}
	if _, err := db.AuthenticateAgent(ctx, s1); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("the replaced secret still works: %v", err)
	}
	if _, _, err := join(db, "sga_hosts", "web-1", "inst-b", s1, web); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("a replaced secret proves nothing: %v", err)
	}
	// Lost: the join token alone takes the name.
	clock.Add(lostAfter + time.Second)
	if _, _, err := join(db, "sga_hosts", "web-1", "inst-c", "", web); err != nil {
		t.Fatalf("taking a lost agent's name: %v", err)
	}
	if _, err := db.AuthenticateAgent(ctx, s2); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("the lost agent's secret still works: %v", err)
	}
	verify(t, db)
}

const twoEnvService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}, {name: production}]
  pipeline:
    jobs:
      - {name: deploy, steps: [{run: 'true'}]}
`

// A runner limited to some environments (its join token's) is never handed
// a job of another, neither by a claim nor by the pass that serves waiting
// claims, and so never gets its secrets.
func testClaimRespectsTokenEnvs(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, twoEnvService)
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	stagingOnly := shipgate.RunnerInfo{Name: "stg-1", Envs: []string{"staging"}}

	// A claim that waits: production work appears first, then staging.
	var wg sync.WaitGroup
	var got *shipgate.Assignment
	var claimErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, _, claimErr = d.Claim(ctx, shipgate.ClaimRequest{Runner: stagingOnly, ClaimID: "w", Wait: time.Minute})
	}()
	testutil.WaitFor(t, "the claim to wait", func() bool { return d.Waiting() == 1 })
	prod, err := newRelease(db, "production", "1", "carol")
	if err != nil {
		t.Fatal(err)
	}
	d.Work.Notify()
	stg, err := newRelease(db, "staging", "1", "carol")
	if err != nil {
		t.Fatal(err)
	}
	d.Work.Notify()
	wg.Wait()
	if claimErr != nil || got == nil || got.Key.ReleaseID != stg.ID || got.Env != "staging" {
		t.Fatalf("a waiting staging-only claim got %+v (%v); production is release %d", got, claimErr, prod.ID)
	}

	// A direct claim: the production job is still queued, and still not
	// for this runner.
	if a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: stagingOnly, ClaimID: "d"}); ok || err != nil {
		t.Fatalf("a staging-only runner claimed %+v %v", a, err)
	}
	if j := job(t, db, prod.ID, "deploy"); j.State != shipgate.JobQueued || j.Attempt != 0 {
		t.Fatalf("production job: %+v", j)
	}
	prodRunner := shipgate.RunnerInfo{Name: "prod-1", Envs: []string{"production"}}
	if a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: prodRunner, ClaimID: "p"}); !ok || err != nil || a.Key.ReleaseID != prod.ID {
		t.Fatalf("a production runner's claim: %+v %v %v", a, ok, err)
	}
	verify(t, db)
}
