package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
	"github.com/shipgate/shipgate/internal/testutil/promtest"
)

// metricsService deploys in staging at once and in production after one
// approval; an artifact without "good" in it fails the deploy job, and
// staging rolls a failed release back at once.
const metricsService = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { on: true, off: false }
      default_variant: on
      safe_variant: off
  environments:
    - name: staging
      approvals: { required: 0 }
      policies: [no_latest]
      rollback: { enabled: true, check_target: pipeline, delay_seconds: 0, mode: last_successful }
    - name: production
      approvals: { required: 1 }
  pipeline:
    jobs:
      - name: deploy
        steps:
          - run: grep -q good "$SHIPGATE_ARTIFACT_PATH"
`

// metricsPolicy refuses a release versioned "latest": one denied and
// several allowed policy decisions.
const metricsPolicy = `package shipgate.no_latest

deny contains msg if {
	lower(input.release.version) == "latest"
	msg := "version \"latest\" is not a version"
}
`

// metricsServer starts a server serving its metrics on its own address
// (returned) and, with the token of the returned file, on the API
// listener; two notification sinks, one answering and one failing.
func metricsServer(t *testing.T) (s *server, metricsAddr, token string) {
	t.Helper()
	var okHits atomic.Int64
	ok := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { okHits.Add(1); w.WriteHeader(http.StatusAccepted) })
	down := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	cfg := serverConfig(t, fmt.Sprintf(`egress:
  allow: ["127.0.0.1:%s", "127.0.0.1:%s"]
notifications:
  max_attempts: 2
  initial_backoff: 10ms
  sinks:
    - {name: team, type: webhook, url: "%s/team"}
    - {name: pager, type: webhook, url: "%s/pager"}
`, ok.port(), down.port(), ok.URL, down.URL))
	token = "metrics-token-0123456789abcdef"
	tokenFile := filepath.Join(t.TempDir(), "metrics.token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	policies := t.TempDir()
	os.WriteFile(filepath.Join(policies, "no_latest.rego"), []byte(metricsPolicy), 0o644)
	metricsAddr = freeAddr(t)
	s = startServerWith(t, []string{"--config", cfg, "--metrics-listen", metricsAddr, "--metrics-token-file", tokenFile,
		"--policy-dir", policies, "--audit-checkpoint-every", "1s", "--metrics-dora-every", "5s"})
	return s, metricsAddr, token
}

// metricsHistory drives some history through the CLI: releases approved
// and run, one failed and rolled back by policy, one rolled back by a
// person, one refused by a policy, a flag killed.
func metricsHistory(t *testing.T, s *server) {
	t.Helper()
	s.ok("admin", "user", "create", "alice", "--role", "approver")
	s.tokens["alice"] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", "alice"))
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(metricsService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	os.WriteFile(filepath.Join(s.workDir, "good-1.tar"), []byte("good build 1"), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "good-2.tar"), []byte("good build 2"), 0o644)
	os.WriteFile(filepath.Join(s.workDir, "bad-3.tar"), []byte("broken build 3"), 0o644)

	v1 := s.create("admin", "shop", "--env", "staging", "--version", "1.0", "--artifact", "good-1.tar", "--commit", "c0ffee1", "--committed-at", "2026-11-20T10:00:00Z")
	s.ok("admin", "release", "wait", fmt.Sprint(v1.ID))
	p1 := s.create("admin", "shop", "--env", "production", "--version", "1.0", "--artifact", "good-1.tar", "--commit", "c0ffee1", "--committed-at", "2026-11-20T10:00:00Z")
	s.ok("alice", "approve", fmt.Sprint(p1.ID))
	s.ok("admin", "release", "wait", fmt.Sprint(p1.ID))
	p2 := s.create("admin", "shop", "--env", "production", "--version", "2.0", "--artifact", "good-2.tar", "--commit", "c0ffee2", "--committed-at", "2026-11-21T10:00:00Z")
	s.ok("alice", "approve", fmt.Sprint(p2.ID))
	s.ok("admin", "release", "wait", fmt.Sprint(p2.ID))
	// A person rolls staging 2.0 back to 1.0.
	s2 := s.create("admin", "shop", "--env", "staging", "--version", "2.0", "--artifact", "good-2.tar")
	s.ok("admin", "release", "wait", fmt.Sprint(s2.ID))
	s.ok("admin", "rollback", "shop", "--env", "staging", "--reason", "2.0 is slow")
	testutil.WaitFor(t, "staging 2.0 to be rolled back", func() bool { return s.show(s2.ID).State == "rolled_back" })
	// Staging 3.0 fails its deploy job; its rollback policy restores 1.0.
	v3 := s.create("admin", "shop", "--env", "staging", "--version", "3.0", "--artifact", "bad-3.tar")
	testutil.WaitFor(t, "staging 3.0 to be rolled back", func() bool { return s.show(v3.ID).State == "rolled_back" })
	s.fails("latest", "admin", "release", "create", "shop", "--env", "staging", "--version", "latest", "--artifact", "good-1.tar")
	s.ok("admin", "flag", "kill", "shop", "new-checkout", "--env", "production", "--reason", "INC-7 checkout errors")
}

// getJSON decodes the API's answer to GET path, as the admin.
func getJSON(t *testing.T, s *server, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// scrape GETs url with an optional bearer token.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// exposition is a parsed scrape.
type exposition map[string]*dto.MetricFamily

func parseExposition(t *testing.T, body string) exposition {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, body)
	}
	return fams
}

// value is the value of the series name{labels} (k=v pairs), counters,
// gauges and histograms (its count) alike; ok is false when absent.
func (e exposition) value(name string, labels ...string) (float64, bool) {
	f := e[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k {
					found = l.GetValue() == v
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestControlPlaneMetricsE2E scrapes a real server after some history:
// the exposition passes promtool, the key series have the values the
// history implies, and /metrics on the API listener needs the token.
func TestControlPlaneMetricsE2E(t *testing.T) {
	s, metricsAddr, token := metricsServer(t)
	metricsHistory(t, s)
	url := "http://" + metricsAddr + "/metrics"
	// What each series must reach: counters count since the server
	// started, and this server saw the whole history.
	want := []struct {
		name            string
		labels          []string
		atLeast, atMost float64
	}{
		// Succeeded: staging 1.0, production 1.0 and 2.0, the two rollback
		// releases; rolled back: staging 2.0 and 3.0.
		{"shipgate_releases", []string{"state=succeeded"}, 5, 5},
		{"shipgate_releases", []string{"state=rolled_back"}, 2, 2},
		{"shipgate_release_transitions_total", []string{"action=release.failed"}, 1, 1},
		{"shipgate_release_transitions_total", []string{"action=release.approved"}, 2, 2},
		// Seven releases ran one deploy job each; 3.0's failed.
		{"shipgate_job_outcomes_total", []string{"result=succeeded"}, 6, 6},
		{"shipgate_job_outcomes_total", []string{"result=failed"}, 1, 1},
		{"shipgate_rollbacks_total", []string{"trigger=policy"}, 1, 1},
		{"shipgate_rollbacks_total", []string{"trigger=user"}, 1, 1},
		{"shipgate_policy_decisions_total", []string{"result=deny"}, 1, 1},
		{"shipgate_flag_kills_total", []string{"kind=killed"}, 1, 1},
		{"shipgate_canary_aborts_total", []string{"reason=analysis"}, 0, 0},
		{"shipgate_approval_wait_seconds", nil, 2, 2},
		{"shipgate_release_queue_seconds", nil, 7, 7},
		{"shipgate_job_dispatch_seconds", nil, 7, 7},
		{"shipgate_notifications_delivered_total", []string{"sink=team"}, 1, 1e9},
		{"shipgate_notification_failures_total", []string{"sink=pager", "final=true"}, 1, 1e9},
		{"shipgate_audit_chain_length", nil, 30, 1e9},
		{"shipgate_audit_checkpoint_age_seconds", nil, 0, 3600},
		{"shipgate_agents", []string{"state=online"}, 0, 0},
		{"shipgate_jobs_queued", nil, 0, 0},
		{"shipgate_store_up", nil, 1, 1},
		{"go_goroutines", nil, 1, 1e9},
		// Production deployed 1.0 and 2.0 (each approved); the flag killed
		// there counts 2.0, the version live, as failed.
		{"shipgate_dora_deployments", []string{"service=shop", "environment=production"}, 2, 2},
		{"shipgate_dora_change_failure_ratio", []string{"service=shop", "environment=production"}, 0.5, 0.5},
		{"shipgate_dora_failed_deployments", []string{"service=shop", "environment=staging"}, 1, 1e9},
	}
	var body string
	testutil.WaitForNil(t, "the metrics to show the history", func() error {
		code, b := scrape(t, url, "")
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", url, code, b)
		}
		body = b
		e := parseExposition(t, b)
		var wrong []string
		for _, w := range want {
			v, ok := e.value(w.name, w.labels...)
			if !ok || v < w.atLeast || v > w.atMost {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v (present %v), want %v..%v", w.name, w.labels, v, ok, w.atLeast, w.atMost))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s", strings.Join(wrong, "\n"))
		}
		return nil
	})
	t.Run("promtool check metrics passes", func(t *testing.T) {
		promtest.CheckMetrics(t, []byte(body))
	})
	t.Run("the DORA gauges are the API's numbers", func(t *testing.T) {
		var rep shipgate.DORAReport
		getJSON(t, s, "/api/v1/metrics/dora?since=30d", &rep)
		e := parseExposition(t, body)
		if len(rep.Breakdown) != 2 {
			t.Fatalf("the API reports %d service/environment pairs, want 2: %+v", len(rep.Breakdown), rep.Breakdown)
		}
		for _, b := range rep.Breakdown {
			m, labels := b.Metrics, []string{"service=" + b.Service, "environment=" + b.Environment}
			check := func(name string, want *float64, extra ...string) {
				t.Helper()
				got, ok := e.value(name, append(labels, extra...)...)
				switch {
				case want == nil && ok:
					t.Errorf("%s%v = %v, but the API has no value", name, labels, got)
				case want != nil && (!ok || got != *want):
					t.Errorf("%s%v%v = %v (present %v), the API says %v", name, labels, extra, got, ok, *want)
				}
			}
			deployments, failed := float64(m.Deployments), float64(m.FailedDeployments)
			check("shipgate_dora_deployments", &deployments)
			check("shipgate_dora_deployment_frequency_per_day", &m.DeploymentsPerDay)
			check("shipgate_dora_failed_deployments", &failed)
			check("shipgate_dora_change_failure_ratio", m.ChangeFailRate)
			check("shipgate_dora_lead_time_seconds", m.LeadTime.CommitToSucceeded.P50, "percentile=50")
			check("shipgate_dora_lead_time_seconds", m.LeadTime.CommitToSucceeded.P90, "percentile=90")
			check("shipgate_dora_recovery_time_seconds", m.RecoveryTime.P50, "percentile=50")
			check("shipgate_dora_recovery_time_seconds", m.RecoveryTime.P90, "percentile=90")
		}
	})
	t.Run("the API listener needs the token", func(t *testing.T) {
		for _, tok := range []string{"", "wrong-token-0123456789abcdef", token + "x"} {
			code, b := scrape(t, s.direct+"/metrics", tok)
			if code != http.StatusUnauthorized || !strings.Contains(b, "metrics token") {
				t.Errorf("token %q: %d %s", tok, code, b)
			}
		}
		code, b := scrape(t, s.direct+"/metrics", token)
		if code != http.StatusOK || !strings.Contains(b, "shipgate_audit_chain_length ") {
			t.Fatalf("with the token: %d %.300s", code, b)
		}
		promtest.CheckMetrics(t, []byte(b))
	})
}

// TestMetricsTokenFileE2E: without --metrics-token-file the API listener
// does not serve /metrics, and a short token stops the start.
func TestMetricsTokenFileE2E(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner"})
	code, b := scrape(t, s.direct+"/metrics", "")
	if code != http.StatusNotFound || !strings.Contains(b, "--metrics-token-file") {
		t.Fatalf("GET /metrics without a token file: %d %s", code, b)
	}
	short := filepath.Join(t.TempDir(), "short.token")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	data := filepath.Join(t.TempDir(), "data")
	r := runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", data, "--metrics-token-file", short)
	if r.code == 0 || !strings.Contains(r.stderr, "--metrics-token-file") || !strings.Contains(r.stderr, "at least 16 characters") {
		t.Fatalf("a short token: exit %d, stderr %s", r.code, r.stderr)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused start created %s (%v)", data, err)
	}
}
