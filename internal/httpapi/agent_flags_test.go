package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// killStaging is flagsYAML with new-checkout turned off in staging: a
// change of staging's flags, as a kill is.
var killStaging = strings.Replace(flagsYAML, "    - name: staging\n", "    - name: staging\n      flags:\n        - {key: new-checkout, type: boolean, enabled: false, variants: {on: true, off: false}, default_variant: off, safe_variant: off}\n", 1)

func flagOf(t *testing.T, fs *client.AgentFlags, service, key string) shipgate.Flag {
	t.Helper()
	for _, f := range fs.Flags {
		if f.Service == service && f.Flag.Key == key {
			return f.Flag
		}
	}
	t.Fatalf("no flag %s/%s in %+v", service, key, fs)
	return shipgate.Flag{}
}

// TestAgentFlags: an agent reads an environment's live flags with an ETag;
// the same ETag answers 304, a long poll returns as soon as a flag of the
// environment changes, and a scoped agent reads only its environments.
func TestAgentFlags(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "shop.yaml", []byte(flagsYAML)); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.NewAgent(f.srv.URL, reg.Secret)

	staging, err := agent.Flags(ctx, "staging", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if staging.Environment != "staging" || len(staging.Flags) != 2 || staging.ETag == "" || staging.Generation == 0 {
		t.Fatalf("staging flags = %+v", staging)
	}
	if nc := flagOf(t, staging, "shop", "new-checkout"); nc.Disabled || len(nc.Rules) != 1 {
		t.Fatalf("new-checkout in staging = %+v", nc)
	}
	if prod, err := agent.Flags(ctx, "production", "", 0); err != nil || !flagOf(t, prod, "shop", "new-checkout").Disabled {
		t.Fatalf("production flags = %+v, %v", prod, err)
	}
	// Unchanged: 304, at once without wait and after a wait that passes.
	if same, err := agent.Flags(ctx, "staging", staging.ETag, 0); same != nil || err != nil {
		t.Fatalf("same ETag: %+v, %v; want not modified", same, err)
	}
	if same, err := agent.Flags(ctx, "staging", staging.ETag, 50*time.Millisecond); same != nil || err != nil {
		t.Fatalf("same ETag after a wait: %+v, %v; want not modified", same, err)
	}
	// An environment without flags is empty, not an error.
	if none, err := agent.Flags(ctx, "qa", "", 0); err != nil || len(none.Flags) != 0 || none.Generation != 0 {
		t.Fatalf("qa flags = %+v, %v", none, err)
	}

	// A long poll ends with the change.
	got := make(chan *client.AgentFlags, 1)
	errc := make(chan error, 1)
	go func() {
		fs, err := agent.Flags(ctx, "staging", staging.ETag, client.MaxAgentFlagsWait)
		got <- fs
		errc <- err
	}()
	if _, err := admin.Apply(ctx, "shop.yaml", []byte(killStaging)); err != nil {
		t.Fatal(err)
	}
	changed := <-got
	if err := <-errc; err != nil || changed == nil {
		t.Fatalf("long poll: %+v, %v", changed, err)
	}
	if nc := flagOf(t, changed, "shop", "new-checkout"); !nc.Disabled || nc.Served() != "off" || changed.Generation <= staging.Generation || changed.ETag == staging.ETag {
		t.Fatalf("after the change: %+v (generation %d → %d)", nc, staging.Generation, changed.Generation)
	}
	// Production did not move: its ETag still holds.
	prod, _ := agent.Flags(ctx, "production", "", 0)
	if same, err := agent.Flags(ctx, "production", prod.ETag, 0); same != nil || err != nil {
		t.Fatalf("production after a staging change: %+v, %v", same, err)
	}

	// A token scoped to production: its agent reads production only.
	scoped, err := admin.CreateScopedAgentToken(ctx, client.CreateAgentTokenRequest{Name: "prod", Envs: []string{"production"}})
	if err != nil {
		t.Fatal(err)
	}
	preg, err := register(t, f, scoped.Secret, "web-p", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	pagent := client.NewAgent(f.srv.URL, preg.Secret)
	if _, err := pagent.Flags(ctx, "production", "", 0); err != nil {
		t.Fatalf("scoped agent, its environment: %v", err)
	}
	_, err = pagent.Flags(ctx, "staging", "", 0)
	if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "scoped to production") {
		t.Fatalf("scoped agent, another environment: %v", err)
	}

	// Bad requests, and callers that are not agents.
	for path, want := range map[string]string{
		"/api/v1/agent/flags":                           "environment query parameter is required",
		"/api/v1/agent/flags?environment=Bad%20Name":    "not valid",
		"/api/v1/agent/flags?environment=qa&wait=later": "not a duration",
	} {
		status, out := f.raw(t, "GET", path, reg.Secret, nil)
		if status != 400 || !strings.Contains(fmt.Sprint(out["error"]), want) {
			t.Errorf("GET %s: %d %v, want 400 %q", path, status, out, want)
		}
	}
	if status, _ := f.raw(t, "GET", "/api/v1/agent/flags?environment=staging", f.tokens["admin"], nil); status != 401 {
		t.Fatalf("a user token on the agent route: %d", status)
	}
	if status, _ := f.raw(t, "GET", "/api/v1/agent/flags?environment=staging", "", nil); status != 401 {
		t.Fatalf("no credentials: %d", status)
	}
}

// TestAgentFlagsWake: a waiting long poll is woken by the commit of a
// change on this server, without its periodic re-read (here an hour), and
// sees a change another server committed by that re-read.
func TestAgentFlagsWake(t *testing.T) {
	dsn := testutil.DSN(t, "sqlite")
	open := func() *sqlstore.DB {
		db, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db, other := open(), open()
	h := httpapi.NewHandler(&httpapi.Handler{DB: db, Logger: slog.New(slog.DiscardHandler), FlagRecheck: time.Hour})
	srv := httptest.NewServer(checkedAPI(t, h))
	t.Cleanup(srv.Close)
	testutil.MustApply(t, db, flagsYAML)
	secret := shipgate.NewSecret(shipgate.AgentTokenPrefix)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.CreateAgentToken(ctx, "test", sqlstore.NewAgentToken{Name: "hosts"}, secret)
		return err
	})
	reg, err := client.New(srv.URL, secret).RegisterAgent(ctx, client.RegisterAgentRequest{Name: "web-1", Labels: map[string]string{"role": "web"}, Version: "test", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.NewAgent(srv.URL, reg.Secret)
	poll := func(etag string) <-chan *client.AgentFlags {
		ch := make(chan *client.AgentFlags, 1)
		go func() {
			fs, err := agent.Flags(ctx, "staging", etag, client.MaxAgentFlagsWait)
			if err != nil {
				t.Error(err)
			}
			ch <- fs
		}()
		return ch
	}
	before, err := agent.Flags(ctx, "staging", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := poll(before.ETag)
	testutil.MustApply(t, db, killStaging) // this server: the commit wakes the poll
	if fs := <-got; fs == nil || !flagOf(t, fs, "shop", "new-checkout").Disabled {
		t.Fatalf("woken with %+v", fs)
	}

	// Another server's change: seen by the re-read (a handler over the
	// same database that re-reads every 10 ms).
	h2 := httpapi.NewHandler(&httpapi.Handler{DB: db, Logger: slog.New(slog.DiscardHandler), FlagRecheck: 10 * time.Millisecond})
	srv2 := httptest.NewServer(checkedAPI(t, h2))
	t.Cleanup(srv2.Close)
	agent = client.NewAgent(srv2.URL, reg.Secret)
	current, _ := agent.Flags(ctx, "staging", "", 0)
	got = poll(current.ETag)
	testutil.MustApply(t, other, strings.Replace(killStaging, `compact: {color: green`, `compact: {color: red`, 1))
	if fs := <-got; fs == nil || fs.Generation <= current.Generation {
		t.Fatalf("after another server's change: %+v", fs)
	}
}
