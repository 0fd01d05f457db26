package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/testutil"
)

// agentFlagsService declares flags k1…kN in staging; the first `off` of
// them are turned off in staging, as a kill does.
func agentFlagsService(n, off int) string {
	var b strings.Builder
	b.WriteString("apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: shop}\nspec:\n  flags:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    - {key: k%d, type: boolean, variants: {on: true, off: false}, default_variant: on, safe_variant: off}\n", i)
	}
	b.WriteString("  environments:\n    - name: staging\n")
	if off > 0 {
		b.WriteString("      flags:\n")
		for i := 1; i <= off; i++ {
			fmt.Fprintf(&b, "        - {key: k%d, type: boolean, enabled: false, variants: {on: true, off: false}, default_variant: on, safe_variant: off}\n", i)
		}
	}
	b.WriteString("  pipeline:\n    jobs:\n      - name: deploy\n        steps: [{run: \"true\"}]\n")
	return b.String()
}

type localEval struct {
	status  int
	stale   string
	Value   any    `json:"value"`
	Variant string `json:"variant"`
	Reason  string `json:"reason"`
}

// evalLocal asks an agent's local flags endpoint; status 0 when it does
// not answer.
func evalLocal(addr, env, key string) localEval {
	resp, err := http.Post("http://"+addr+"/environments/"+env+"/ofrep/v1/evaluate/flags/"+key, "application/json", strings.NewReader(`{"context":{"targetingKey":"u1"}}`))
	if err != nil {
		return localEval{}
	}
	defer resp.Body.Close()
	var e localEval
	json.NewDecoder(resp.Body).Decode(&e)
	e.status, e.stale = resp.StatusCode, resp.Header.Get("Shipgate-Flags-Stale")
	return e
}

// TestAgentServesFlagsE2E: `shipgate agent --flags-listen` serves the
// flags of its environment on loopback; a flag turned off on the server is
// served as its safe variant by the agent within moments (measured, in
// docs/benchmarks.md); with the server down, a restarted agent serves the
// last flags it knew. A non-loopback address is refused.
func TestAgentServesFlagsE2E(t *testing.T) {
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "hosts"))
	s.fails("not a loopback address", "admin", "agent", "--token", join, "--name", "bad", "--work-dir", filepath.Join(s.dir, "agent-bad"), "--flags-listen", "0.0.0.0:8790")
	s.fails("--flags-env needs --flags-listen", "admin", "agent", "--token", join, "--name", "bad", "--work-dir", filepath.Join(s.dir, "agent-bad"), "--flags-env", "staging")
	prodOnly := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "prod-hosts", "--env", "production"))
	s.fails("--flags-env staging: this agent's join token is limited to the environments production", "admin", "agent", "--token", prodOnly, "--name", "prod-1", "--labels", "role=web",
		"--work-dir", filepath.Join(s.dir, "agent-prod-1"), "--flags-listen", freeAddr(t), "--flags-env", "staging")

	const runs = 5
	file := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(file, []byte(agentFlagsService(runs, 0)), 0o644)
	s.ok("admin", "apply", "-f", file)
	addr := freeAddr(t)
	a := s.startAgent("web-a", "role=web", join, "--flags-listen", addr, "--flags-env", "staging")
	testutil.WaitFor(t, "the agent to serve k1", func() bool { return evalLocal(addr, "staging", "k1").Variant == "on" })
	// An application's OpenFeature SDK with the OFREP provider, configured
	// with the OFREP_ENDPOINT a supervised service gets and no key.
	sdk := sdkClient(t, "shipgate-agent", "http://"+addr+"/environments/staging")
	user := openfeature.NewEvaluationContext("u1", nil)
	if d, err := sdk.BooleanValueDetails(context.Background(), "k1", false, user); err != nil || !d.Value || d.Reason != openfeature.StaticReason || d.FlagMetadata["service"] != "shop" {
		t.Fatalf("the SDK through the agent: %+v, %v", d, err)
	}

	// Each run turns one more flag off on the server and times how long
	// until the agent's endpoint serves it off (from before the CLI
	// starts: an upper bound).
	var took []string
	for i := 1; i <= runs; i++ {
		os.WriteFile(file, []byte(agentFlagsService(runs, i)), 0o644)
		key := fmt.Sprintf("k%d", i)
		start := time.Now()
		s.ok("admin", "apply", "-f", file)
		applied := time.Now()
		testutil.WaitFor(t, "the agent to serve "+key+" off", func() bool {
			e := evalLocal(addr, "staging", key)
			return e.Variant == "off" && e.Value == false && e.Reason == "STATIC"
		})
		took = append(took, fmt.Sprintf("%s (%s after apply returned)", time.Since(start).Round(time.Millisecond), time.Since(applied).Round(time.Millisecond)))
	}
	t.Logf("server change → agent serves the safe variant: %s", strings.Join(took, ", "))
	// A killed flag answers STATIC with metadata disabled: the SDK hands
	// the application the safe variant's value (false), not its code
	// default (true here).
	if d, err := sdk.BooleanValueDetails(context.Background(), "k1", true, user); err != nil || d.Value || d.Variant != "off" || d.Reason != openfeature.StaticReason || d.FlagMetadata["disabled"] != true {
		t.Fatalf("the SDK through the agent after the kill: %+v, %v", d, err)
	}
	if d, err := sdk.BooleanValueDetails(context.Background(), "nope", true, user); err == nil || !d.Value || d.ErrorCode != openfeature.FlagNotFoundCode {
		t.Fatalf("the SDK through the agent, an unknown flag: %+v, %v", d, err)
	}
	if e := evalLocal(addr, "staging", fmt.Sprintf("k%d", runs+1)); e.status != 404 {
		t.Fatalf("an undeclared flag: %+v", e)
	}

	// The agent stops, then the server; started again, the agent serves
	// what it kept while it waits for the server.
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
	s.stop()
	cmd := exec.Command(binary, "agent", "--server", s.url, "--token", join, "--name", "web-a", "--labels", "role=web",
		"--work-dir", filepath.Join(s.dir, "agent-web-a"), "--flags-listen", addr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	waiting := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "cannot register yet") {
				select {
				case waiting <- true:
				default:
				}
			}
		}
	}()
	testutil.WaitFor(t, "the restarted agent to serve the kept flags", func() bool { return evalLocal(addr, "staging", "k1").status == 200 })
	for i := 1; i <= runs; i++ {
		if e := evalLocal(addr, "staging", fmt.Sprintf("k%d", i)); e.Variant != "off" || e.Reason != "STATIC" {
			t.Fatalf("k%d after a restart without the server: %+v", i, e)
		}
	}
	// It serves them without the server indeed.
	testutil.WaitFor(t, "the restarted agent to report the server unreachable", func() bool {
		select {
		case <-waiting:
			return true
		default:
			return false
		}
	})
}

// TestAgentGivesServicesFlagsE2E: a service a release starts on an agent
// with --flags-listen gets the agent's endpoint for its environment and
// its flags' values in its environment, and the agent serves the flags of
// that environment without being told to (no --flags-env).
func TestAgentGivesServicesFlagsE2E(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		testutil.Unavailable(t, "/proc (the test reads the service's environment from it)", err)
	}
	s := startServerWith(t, []string{"--no-local-runner"})
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create", "--name", "web-hosts"))
	addr := freeAddr(t)
	s.startAgent("web-1", "role=web", join, "--flags-listen", addr, "--stop-services-on-exit", "--shutdown-grace", "5s")
	front := freeAddr(t)
	svc := demo.AppService("shop", binary, front, "{ role: web }", "5m", "canary:\n  steps:\n    - set_weight: 100")
	svc = strings.Replace(svc, "spec:\n", `spec:
  flags:
    - {key: new-checkout, type: boolean, variants: {on: true, off: false}, default_variant: on, safe_variant: off}
    - {key: banner, type: string, variants: {plain: "hello", fancy: "hello, world"}, default_variant: fancy, safe_variant: plain}
`, 1)
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(svc), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "shop-1.0.conf"), []byte("version=1.0\n"), 0o644)
	id := s.create("admin", "shop", "--env", "production", "--version", "1.0", "--artifact", "shop-1.0.conf").ID
	s.ok("admin", "release", "wait", fmt.Sprint(id))

	env := demoAppEnv(t, filepath.Join(s.dir, "agent-web-1"))
	for k, want := range map[string]string{
		"OFREP_ENDPOINT":             "http://" + addr + "/environments/production",
		"SHIPGATE_FLAGS_ENVIRONMENT": "production",
		"SHIPGATE_FLAG_NEW_CHECKOUT": "true",
		"SHIPGATE_FLAG_BANNER":       "hello, world",
	} {
		if env[k] != want {
			t.Errorf("the service's $%s = %q; want %q", k, env[k], want)
		}
	}
	if e := evalLocal(addr, "production", "banner"); e.status != 200 || e.Value != "hello, world" {
		t.Fatalf("the agent's endpoint for the service's environment: %+v", e)
	}
}

// demoAppEnv is the environment of the one demo-app process running from
// under dir (an agent's work dir).
func demoAppEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmdline), "demo-app") || !strings.Contains(string(cmdline), dir) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(p), "environ"))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, kv := range strings.Split(string(raw), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		return env
	}
	t.Fatalf("no demo-app process runs from %s", dir)
	return nil
}
