package agentflags_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/agentflags"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

const shopYAML = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: {on: true, off: false}
      default_variant: on
      safe_variant: off
    - key: banner
      type: string
      variants: {plain: "hello", fancy: "hello, world"}
      default_variant: fancy
      safe_variant: plain
  environments:
    - name: staging
      ENVFLAGS
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// off is the staging override that turns new-checkout off.
const off = "flags: [{key: new-checkout, type: boolean, enabled: false, variants: {on: true, off: false}, default_variant: on, safe_variant: off}]"

var ctx = context.Background()

type server struct {
	t     *testing.T
	srv   *httptest.Server
	admin *client.Client
}

// newServer runs a real API server over a real store.
func newServer(t *testing.T) *server {
	db := testutil.NewStore(t, "sqlite")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpapi.NewHandler(&httpapi.Handler{DB: db, Reconciler: reconcile.NewReconciler(db, logger), Logger: logger})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	testutil.MustUser(t, db, "admin", []shipgate.Role{shipgate.RoleAdmin})
	secret := shipgate.NewTokenSecret()
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", "admin", "", secret); return err })
	return &server{t: t, srv: srv, admin: client.New(srv.URL, secret)}
}

func (s *server) apply(envFlags string) {
	s.t.Helper()
	if _, err := s.admin.Apply(ctx, "shop.yaml", []byte(strings.Replace(shopYAML, "ENVFLAGS", envFlags, 1))); err != nil {
		s.t.Fatal(err)
	}
}

// agent registers an agent and returns its protocol client.
func (s *server) agent(name string) *client.Agent {
	s.t.Helper()
	tok, err := s.admin.CreateAgentToken(ctx, name)
	if err != nil {
		s.t.Fatal(err)
	}
	reg, err := client.New(s.srv.URL, tok.Secret).RegisterAgent(ctx, client.RegisterAgentRequest{Name: name, Labels: map[string]string{"role": "web"}, Version: "test", Hostname: "h"})
	if err != nil {
		s.t.Fatal(err)
	}
	return client.NewAgent(s.srv.URL, reg.Secret)
}

// startMirror runs a mirror over dir and its local endpoint.
func startMirror(t *testing.T, dir string, fetch agentflags.Fetcher, envs ...string) (*agentflags.Mirror, *httptest.Server, func()) {
	t.Helper()
	m, err := agentflags.NewMirror(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Wait = 5 * time.Second
	for _, e := range envs {
		if err := m.Watch(e); err != nil {
			t.Fatal(err)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(rctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	if fetch != nil {
		m.SetFetcher(fetch)
	}
	local := httptest.NewServer(agentflags.NewLocal(m, nil))
	t.Cleanup(local.Close)
	return m, local, stop
}

type evaluation struct {
	status   int
	header   http.Header
	Key      string         `json:"key"`
	Value    any            `json:"value"`
	Variant  string         `json:"variant"`
	Reason   string         `json:"reason"`
	Metadata map[string]any `json:"metadata"`
	Code     string         `json:"errorCode"`
	Details  string         `json:"errorDetails"`
}

func evaluate(t *testing.T, base, env, key string) evaluation {
	t.Helper()
	resp, err := http.Post(base+"/environments/"+env+"/ofrep/v1/evaluate/flags/"+key, "application/json", strings.NewReader(`{"context":{"targetingKey":"u1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e evaluation
	json.NewDecoder(resp.Body).Decode(&e)
	e.status, e.header = resp.StatusCode, resp.Header
	return e
}

// TestMirrorServesFlips: the agent's local endpoint serves the server's
// flags; a flag turned off on the server is served as its safe variant
// by the agent without anyone restarting anything; after the server goes
// away, a restarted agent still serves the last flags it knew, marked
// stale once they are old.
func TestMirrorServesFlips(t *testing.T) {
	s := newServer(t)
	s.apply("")
	dir := filepath.Join(t.TempDir(), "flags")
	m, local, stopAgent := startMirror(t, dir, s.agent("web-1"), "staging")

	testutil.WaitFor(t, "the agent to serve new-checkout", func() bool { return evaluate(t, local.URL, "staging", "new-checkout").status == 200 })
	if e := evaluate(t, local.URL, "staging", "new-checkout"); e.Value != true || e.Variant != "on" || e.Reason != shipgate.ReasonStatic || e.header.Get("Shipgate-Flags-Stale") != "" {
		t.Fatalf("before the flip: %+v", e)
	}
	if e := evaluate(t, local.URL, "staging", "nope"); e.status != 404 || e.Code != shipgate.FlagErrNotFound {
		t.Fatalf("unknown flag: %+v", e)
	}
	if e := evaluate(t, local.URL, "production", "new-checkout"); e.status != 404 || e.Code != shipgate.FlagErrNotFound || !strings.Contains(e.Details, `no flags of environment "production"`) {
		t.Fatalf("an environment the agent does not serve: %+v", e)
	}

	// Bulk, with an ETag.
	tag, code := bulk(t, local.URL, "")
	if code != 200 || tag == "" {
		t.Fatalf("bulk: %d %q", code, tag)
	}
	if _, status := bulk(t, local.URL, tag); status != 304 {
		t.Fatalf("bulk with its ETag: %d", status)
	}

	// The flip.
	s.apply(off)
	testutil.WaitFor(t, "the agent to serve the safe variant", func() bool {
		e := evaluate(t, local.URL, "staging", "new-checkout")
		return e.Variant == "off" && e.Value == false && e.Reason == shipgate.ReasonStatic && e.Metadata["disabled"] == true
	})
	if _, status := bulk(t, local.URL, tag); status != 200 {
		t.Fatalf("bulk with the ETag from before the flip: %d", status)
	}
	if st, _ := m.Status("staging"); !st.Known || st.Stale || st.Flags != 2 || st.Error != "" {
		t.Fatalf("status = %+v", st)
	}

	// The agent stops, the server goes away; the agent, restarted, serves
	// what it kept.
	stopAgent()
	local.Close()
	s.srv.Close()
	dead := client.NewAgent(s.srv.URL, "sga_dead")
	m2, local2, _ := startMirror(t, dir, dead)
	if e := evaluate(t, local2.URL, "staging", "new-checkout"); e.status != 200 || e.Variant != "off" || e.Reason != shipgate.ReasonStatic || e.Metadata["disabled"] != true {
		t.Fatalf("restarted without a server: %+v", e)
	}
	testutil.WaitFor(t, "the restarted agent to notice the server is gone", func() bool {
		st, _ := m2.Status("staging")
		return strings.Contains(st.Error, "cannot reach")
	})
	m2.Now = func() time.Time { return time.Now().Add(agentflags.DefaultStaleAfter + time.Minute) }
	if e := evaluate(t, local2.URL, "staging", "banner"); e.status != 200 || e.Value != "hello, world" || e.header.Get("Shipgate-Flags-Stale") != "true" {
		t.Fatalf("old flags: %+v (%v)", e, e.header)
	}
	resp, err := http.Get(local2.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var status struct{ Environments []agentflags.Status }
	json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if len(status.Environments) != 1 || !status.Environments[0].Stale || status.Environments[0].Generation == 0 {
		t.Fatalf("/status = %+v", status)
	}
}

// TestServiceEnv: a supervised process gets the local endpoint of its
// environment and one variable per flag of its service, with the value an
// empty context is served.
func TestServiceEnv(t *testing.T) {
	s := newServer(t)
	s.apply(off)
	m, _, _ := startMirror(t, t.TempDir(), s.agent("web-1"))
	env := m.ServiceEnv(ctx, "127.0.0.1:8790", "shop", "staging")
	want := []string{
		"OFREP_ENDPOINT=http://127.0.0.1:8790/environments/staging",
		"SHIPGATE_FLAGS_ENVIRONMENT=staging",
		"SHIPGATE_FLAG_BANNER=hello, world",
		"SHIPGATE_FLAG_NEW_CHECKOUT=false",
	}
	if !slices.Equal(env, want) {
		t.Fatalf("env = %q\nwant %q", env, want)
	}
	if other := m.ServiceEnv(ctx, "127.0.0.1:8790", "cart", "staging"); len(other) != 2 {
		t.Fatalf("another service's env = %q", other)
	}
	if got := agentflags.EnvName("new-checkout.v2"); got != "SHIPGATE_FLAG_NEW_CHECKOUT_V2" {
		t.Fatalf("EnvName = %s", got)
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8790": true, "[::1]:8790": true, "localhost:8790": true,
		"0.0.0.0:8790": false, "10.1.2.3:8790": false, ":8790": false, "nonsense": false,
	} {
		err := agentflags.CheckListen(addr, false)
		if (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v", addr, err)
		}
		if ok == false && addr != "nonsense" && agentflags.CheckListen(addr, true) != nil {
			t.Errorf("CheckListen(%q, any) refused", addr)
		}
	}
}

// TestMirrorIgnoresBadFiles: a kept file that cannot be read is skipped,
// not served.
func TestMirrorIgnoresBadFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "staging.json"), []byte("{not json"), 0o600)
	os.WriteFile(filepath.Join(dir, "prod.json"), bytes.Repeat([]byte(" "), 3), 0o600)
	m, err := agentflags.NewMirror(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Statuses()) != 0 {
		t.Fatalf("statuses = %+v", m.Statuses())
	}
	if err := m.Watch("Bad Name"); err == nil {
		t.Fatal("a bad environment name was watched")
	}
}

// TestLocalKeepsBrowsersOut: the local endpoint asks for no key, so it
// sends no CORS headers, refuses preflights, and answers only requests
// addressed to a loopback name (not a DNS name rebound to 127.0.0.1).
func TestLocalKeepsBrowsersOut(t *testing.T) {
	s := newServer(t)
	s.apply("")
	_, local, _ := startMirror(t, t.TempDir(), s.agent("web-1"), "staging")
	testutil.WaitFor(t, "the agent to serve new-checkout", func() bool { return evaluate(t, local.URL, "staging", "new-checkout").status == 200 })
	if e := evaluate(t, local.URL, "staging", "new-checkout"); e.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS headers on the local endpoint: %v", e.header)
	}
	do := func(method, host string) *http.Response {
		req, _ := http.NewRequest(method, local.URL+"/environments/staging/ofrep/v1/evaluate/flags/new-checkout", strings.NewReader(`{"context":{}}`))
		req.Host = host
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := do("POST", "evil.example:8790"); resp.StatusCode != 403 {
		t.Fatalf("a rebound host name: %d", resp.StatusCode)
	}
	if resp := do("OPTIONS", "127.0.0.1"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, host := range []string{"localhost:8790", "[::1]:8790", "127.0.0.1"} {
		if resp := do("POST", host); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("host %s: %d %v", host, resp.StatusCode, resp.Header)
		}
	}
}

// bulk evaluates every flag of staging on the local endpoint.
func bulk(t *testing.T, base, etag string) (string, int) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/environments/staging/ofrep/v1/evaluate/flags", strings.NewReader(`{"context":{"targetingKey":"u1"}}`))
	req.Header.Set("Content-Type", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		var out struct{ Flags []map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Flags) != 2 {
			t.Fatalf("bulk answer: %+v, %v", out, err)
		}
	}
	return resp.Header.Get("ETag"), resp.StatusCode
}
