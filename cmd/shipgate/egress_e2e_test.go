package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// countingServer is an HTTP server on loopback that counts the requests
// reaching it.
type countingServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	cs := &countingServer{}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) port() string {
	_, p, _ := net.SplitHostPort(cs.Listener.Addr().String())
	return p
}

// serverConfig writes a server config file and returns its path.
func serverConfig(t *testing.T, yaml string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

const egressService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// TestArtifactURLsFollowTheEgressPolicy: a deployer cannot make the server
// fetch from loopback — by address, by a name that resolves there, or by a
// redirect — and the refusal reads the same whether anything listens on
// the port or not. A destination listed under egress.allow is fetched.
func TestArtifactURLsFollowTheEgressPolicy(t *testing.T) {
	build := []byte("shop build 1.0")
	artifacts := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(build) })
	internal := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal admin page") })
	redirector := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
	})
	closed := freeAddr(t)
	_, closedPort, _ := net.SplitHostPort(closed)
	cfg := serverConfig(t, fmt.Sprintf("egress:\n  allow: [\"127.0.0.1:%s\", \"127.0.0.1:%s\"]\n", artifacts.port(), redirector.port()))

	s := startServerWith(t, []string{"--no-local-runner", "--config", cfg})
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.tokens["carol"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "carol"))
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(egressService), 0o644)
	s.ok("admin", "apply", "-f", f)
	create := func(version, artifact string) result {
		return s.run("carol", "release", "create", "shop", "--env", "staging", "--version", version, "--artifact", artifact)
	}

	open := create("1", internal.URL+"/admin")
	shut := create("1", "http://"+closed+"/admin")
	for _, r := range []result{open, shut} {
		if r.code == 0 || !strings.Contains(r.stderr, "egress policy") {
			t.Fatalf("loopback artifact URL: exit %d, stderr %q; want a refusal by the egress policy", r.code, r.stderr)
		}
	}
	if a, b := strings.ReplaceAll(open.stderr, internal.port(), "PORT"), strings.ReplaceAll(shut.stderr, closedPort, "PORT"); a != b {
		t.Fatalf("the refusal tells an open port from a closed one:\n open:   %s closed: %s", a, b)
	}
	s.fails("egress policy", "carol", "release", "create", "shop", "--env", "staging", "--version", "1", "--artifact", "http://localhost:"+internal.port()+"/admin")
	s.fails("egress policy", "carol", "release", "create", "shop", "--env", "staging", "--version", "1", "--artifact", redirector.URL+"/latest.tar")
	if internal.hits.Load() != 0 || redirector.hits.Load() != 1 {
		t.Fatalf("hits: internal %d, redirector %d", internal.hits.Load(), redirector.hits.Load())
	}

	sum := sha256.Sum256(build)
	r := s.create("carol", "shop", "--env", "staging", "--version", "1", "--artifact", artifacts.URL+"/shop-1.0.tar")
	if r.ID == 0 || artifacts.hits.Load() != 1 {
		t.Fatalf("listed artifact server: release %+v, %d downloads", r, artifacts.hits.Load())
	}
	var v struct {
		Artifact struct{ SHA256 string } `json:"artifact"`
	}
	s.jsonOut(&v, "carol", "release", "show", fmt.Sprint(r.ID))
	if v.Artifact.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("artifact digest %s", v.Artifact.SHA256)
	}

	// The attempts are in the audit log as refusals of carol: the first
	// at once, the rest counted into one event written when their window
	// ends — here, when the server stops (restarted to read the log).
	s.stop()
	s.start()
	refused := s.refusals("carol", "egress policy")
	if refused != 4 {
		t.Fatalf("%d refusals of carol by the egress policy audited, want 4", refused)
	}
}

// TestBuiltInRunnerMetricsFollowTheEgressPolicy: the runner built into the
// server asks metric providers from the server's process, so the egress
// policy applies: a canary judged by an HTTP metric on an unlisted
// loopback port is aborted without the metric being asked; listed, it is
// asked and the canary promoted.
func TestBuiltInRunnerMetricsFollowTheEgressPolicy(t *testing.T) {
	zero := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"value": 0}`) }
	listed, unlisted := newCountingServer(t, zero), newCountingServer(t, zero)
	cfg := serverConfig(t, fmt.Sprintf("egress:\n  allow: [\"127.0.0.1:%s\"]\n", listed.port()))
	s := startServerWith(t, []string{"--config", cfg, "--stop-services-on-exit", "--shutdown-grace", "5s"})
	front := freeAddr(t)
	apply := func(metricURL string) {
		t.Helper()
		f := filepath.Join(s.workDir, "shop.yaml")
		os.WriteFile(f, []byte(demo.AppService("shop", binary, front, "", "2m", fmt.Sprintf(`canary:
  steps:
    - set_weight: 50
    - analysis:
        metrics:
          - name: ext
            provider: { http: { url: %q, json_path: value } }
            success_condition: "result == 0"
            consecutive_error_limit: 0`, metricURL))), 0o644)
		s.ok("admin", "apply", "-f", f)
	}
	release := func(v string) int64 {
		t.Helper()
		os.WriteFile(filepath.Join(s.workDir, "shop-"+v+".conf"), []byte("version="+v+"\n"), 0o644)
		return s.create("admin", "shop", "--env", "production", "--version", v, "--artifact", "shop-"+v+".conf").ID
	}

	apply(unlisted.URL + "/stats")
	s.ok("admin", "release", "wait", fmt.Sprint(release("1.0"))) // the first version takes all traffic, unjudged
	v2 := release("2.0")
	var got rolloutJSON
	testutil.WaitFor(t, "2.0 to end", func() bool {
		got = s.rollout(v2)
		return got.State == "succeeded" || got.State == "failed" || got.State == "rolled_back"
	})
	if got.State == "succeeded" || unlisted.hits.Load() != 0 {
		t.Fatalf("a canary judged by an unlisted loopback metric ended %s after %d requests to it", got.State, unlisted.hits.Load())
	}
	refused := false
	for _, d := range got.Rollouts[len(got.Rollouts)-1].Status.Decisions {
		refused = refused || strings.Contains(d.Summary, "egress policy")
	}
	if !refused {
		t.Fatalf("no decision names the egress policy: %+v", got.Rollouts)
	}

	apply(listed.URL + "/stats")
	testutil.WaitFor(t, "2.0 to be rolled back", func() bool { return s.rollout(v2).State != "failed" })
	v3 := release("3.0")
	if out := s.ok("admin", "release", "wait", fmt.Sprint(v3)); !strings.Contains(out, "succeeded") || listed.hits.Load() == 0 {
		t.Fatalf("a canary judged by a listed metric: %s (%d requests to it)", out, listed.hits.Load())
	}
}
