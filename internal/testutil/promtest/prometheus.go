// Package promtest starts a real Prometheus for tests, from the machine's
// binary. It imports only the standard library, so any package's tests can
// use it — internal/analysis's included, which internal/testutil (through
// internal/config) imports.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is where Debian's prometheus package installs the server.
const Binary = "/usr/bin/prometheus"

// ScrapeInterval is how often the started Prometheus scrapes (and
// evaluates): short, so a test sees a new value within about a second.
const ScrapeInterval = time.Second

// Start runs a Prometheus that scrapes each of scrapeTargets (host:port,
// serving /metrics) every ScrapeInterval, with its data in a temp dir, and
// returns its host:port once it is ready and has scraped every target
// successfully (up == 1), so a test's first query already finds series.
// It is killed when the test ends; its log is shown if the test failed.
//
// Without the binary the test is skipped — unless CI=true, where a missing
// Prometheus must not pass silently, and the test fails.
func Start(t testing.TB, scrapeTargets []string) (addr string) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install prometheus): %v", Binary, err)
		}
		t.Skipf("%s is missing (apt-get install prometheus)", Binary)
	}
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: %s\n  evaluation_interval: %[1]s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [%s]\n",
		ScrapeInterval, quoted(scrapeTargets))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// A port picked free can be taken before Prometheus binds it; then it
	// exits at once and another port is tried.
	var lastErr error
	for i := range 3 {
		addr := freeAddr(t)
		p := &process{logs: &lockedBuffer{}}
		p.cmd = exec.Command(Binary, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprint("data-", i)),
			"--web.listen-address="+addr, "--log.level=warn")
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.exited = make(chan struct{})
		go func() { p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() {
			p.cmd.Process.Kill()
			<-p.exited
			if t.Failed() {
				t.Logf("prometheus on %s, log:\n%s", addr, p.logs.String())
			}
		})
		if lastErr = waitReady(addr, scrapeTargets, p.exited); lastErr == nil {
			return addr
		}
		select {
		case <-p.exited:
			continue // most likely the port was taken
		default:
			t.Fatalf("prometheus on %s: %v", addr, lastErr)
		}
	}
	t.Fatalf("prometheus did not start: %v", lastErr)
	return ""
}

type process struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
}

// waitReady polls until Prometheus reports every target up, for at most
// 30 seconds, or until it exits.
func waitReady(addr string, targets []string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var err error
	for time.Now().Before(deadline) {
		if err = targetsUp(addr, targets); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-tick.C:
		}
	}
	return fmt.Errorf("not ready within 30s: %v", err)
}

// targetsUp asks Prometheus for `up` and says which targets weren't
// scraped successfully yet.
func targetsUp(addr string, targets []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/query?query="+url.QueryEscape("up == 1"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.Status != "success" {
		return fmt.Errorf("query up: HTTP %d, status %q, %v", resp.StatusCode, answer.Status, err)
	}
	up := map[string]bool{}
	for _, r := range answer.Data.Result {
		up[r.Metric["instance"]] = true
	}
	var down []string
	for _, target := range targets {
		if !up[target] {
			down = append(down, target)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("not scraped yet: %s", strings.Join(down, ", "))
	}
	return nil
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects the process's output while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
