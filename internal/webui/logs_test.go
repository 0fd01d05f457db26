package webui_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/runner"
	"github.com/shipgate/shipgate/internal/testutil"
)

const loggedService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: logged}
spec:
  inputs:
    - {name: db_password, secret: true, description: database password}
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: build
        runs_on: {role: logs}
        steps:
          - run: |
              echo "connecting with $SHIPGATE_INPUT_DB_PASSWORD"
              echo "first <line> & more"
              while [ ! -f "@@GATE@@" ]; do sleep 0.05; done
              echo "after the gate, still $SHIPGATE_INPUT_DB_PASSWORD"
`

const dbPassword = "hunter2-very-secret"

// loggedRelease runs a release of loggedService on a real agent (a runner
// over the agent protocol, as `shipgate agent` runs). Its job prints the
// secret input, then waits for the gate file before printing more.
func (f *fixture) loggedRelease(t *testing.T) (id int64, gate string) {
	t.Helper()
	dir := t.TempDir()
	gate = filepath.Join(dir, "gate")
	admin := client.New(f.srv.URL, f.tokens["admin"])
	if _, err := admin.Apply(ctx, "logged.yaml", []byte(strings.Replace(loggedService, "@@GATE@@", gate, 1))); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := client.New(f.srv.URL, tok.Secret).RegisterAgent(ctx, client.RegisterAgentRequest{Name: "logs-1", Labels: map[string]string{"role": "logs"}, Version: "test", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner.Runner{Coord: client.NewAgent(f.srv.URL, reg.Secret), Info: reg.Agent.Info(), WorkDir: filepath.Join(dir, "work"), Slots: 1,
		HeartbeatInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx, runCtx) }()
	t.Cleanup(func() {
		os.WriteFile(gate, nil, 0o644)
		stop()
		<-done
	})
	art := filepath.Join(dir, "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	v, err := client.New(f.srv.URL, f.tokens["carol"]).CreateRelease(ctx, client.CreateReleaseRequest{Service: "logged", Environment: "staging", Version: "1.0",
		Artifact: art, SecretInputs: map[string]string{"db_password": dbPassword}})
	if err != nil {
		t.Fatal(err)
	}
	return v.ID, gate
}

var liveRe = regexp.MustCompile(`id="log-build"[^>]*data-live="([^"]+)"`)

// sseBody reads an event stream into a buffer until the test ends.
type sseBody struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *sseBody) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

func (b *browser) stream(path string) (*sseBody, int) {
	b.t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	b.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(sctx, "GET", b.f.srv.URL+path, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body := &sseBody{}
	go func() {
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.mu.Lock()
			body.buf.Write(buf[:n])
			body.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return body, resp.StatusCode
}

func TestJobLogsLiveMaskedAndEnded(t *testing.T) {
	f := newFixture(t)
	id, gate := f.loggedRelease(t)
	b := f.browser(t)
	b.login("viewer")
	logs := fmt.Sprintf("/releases/%d/logs", id)
	var page string
	testutil.WaitFor(t, "the job's first lines on the logs page", func() bool {
		_, page, _ = b.get(logs)
		return strings.Contains(page, "first &lt;line&gt; &amp; more")
	})
	if !strings.Contains(page, "connecting with ***") || strings.Contains(page, dbPassword) {
		t.Fatalf("the secret input is not masked in the log view:\n%s", page)
	}
	for _, want := range []string{`<details class="joblog" open>`, "Job build", "running", `<pre class="log" id="log-build"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the logs page lacks %q", want)
		}
	}
	m := liveRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("a running job's log has no live stream:\n%s", page)
	}
	live := html.UnescapeString(m[1])
	if !strings.HasPrefix(live, fmt.Sprintf("/releases/%d/logs/live?", id)) || !strings.Contains(live, "job=build") {
		t.Fatalf("live URL %q", live)
	}
	sse, code := b.stream(live)
	if code != 200 {
		t.Fatalf("live stream: %d", code)
	}
	// Nothing new yet: the stream repeats nothing the page showed.
	os.WriteFile(gate, nil, 0o644)
	testutil.WaitFor(t, "the new line appended and the stream ended", func() bool {
		s := sse.String()
		return strings.Contains(s, "event: append") && strings.Contains(s, "after the gate, still ***") && strings.Contains(s, "event: end")
	})
	s := sse.String()
	if strings.Contains(s, dbPassword) || strings.Contains(s, "first &lt;line&gt;") {
		t.Fatalf("the stream shows the secret or repeats old lines:\n%s", s)
	}
	if !strings.Contains(s, `"id":"log-build"`) || !regexp.MustCompile(`(?m)^id: \d+$`).MatchString(s) {
		t.Fatalf("append events lack their target or cursor:\n%s", s)
	}
	// The ended job's log is whole, and no longer live.
	testutil.WaitFor(t, "the job to end", func() bool {
		_, page, _ = b.get(logs)
		return strings.Contains(page, "succeeded")
	})
	if liveRe.MatchString(page) || !strings.Contains(page, "after the gate, still ***") || strings.Contains(page, dbPassword) {
		t.Fatalf("the ended job's log:\n%s", page)
	}
	// A reconnecting browser resumes after its Last-Event-ID: nothing is
	// sent twice, and the stream of an ended job just ends.
	sse, _ = b.stream(live)
	testutil.WaitFor(t, "the stream of an ended job ends", func() bool { return strings.Contains(sse.String(), "event: end") })
	if !strings.Contains(sse.String(), "after the gate") {
		t.Fatal("a stream from the page's cursor misses the lines after it")
	}
}

func TestJobLogsLiveRefusals(t *testing.T) {
	f := newFixture(t)
	ro := f.rolling(t)
	b := f.browser(t)
	b.login("viewer")
	for path, want := range map[string]int{
		fmt.Sprintf("/releases/%d/logs/live", ro.id):                     http.StatusBadRequest,
		fmt.Sprintf("/releases/%d/logs/live?job=nope", ro.id):            http.StatusNotFound,
		fmt.Sprintf("/releases/%d/logs/live?job=deploy&after=-1", ro.id): http.StatusBadRequest,
		"/releases/999/logs/live?job=deploy":                             http.StatusNotFound,
	} {
		if code, page, _ := b.get(path); code != want || !strings.Contains(page, `class="problem"`) {
			t.Errorf("%s: %d, want %d\n%s", path, code, want, page)
		}
	}
	// Logged out, the stream is not served.
	anon := f.browser(t)
	if code, _, _ := anon.get(fmt.Sprintf("/releases/%d/logs/live?job=deploy", ro.id)); code != http.StatusSeeOther {
		t.Errorf("anonymous live stream: %d", code)
	}
}

// fiveThousandLines is a 5,000-line log with characters to escape.
func fiveThousandLines() string {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "2026-03-02T10:00:%02d step %d: compiled <pkg/%d> & linked \"ok\"\n", i%60, i, i)
	}
	return b.String()
}

// BenchmarkLogPre compares building a job's <pre> from one string (what
// template "joblogs" does) with ranging over its lines in the template.
// On the development machine one string was several times faster
// (≈1 ms against ≈4 ms for 5,000 lines; the whole logs page, session,
// in-process API calls and all, ≈9 ms: BenchmarkLogsPage5000Lines).
func BenchmarkLogPre(b *testing.B) {
	text := fiveThousandLines()
	lines := strings.SplitAfter(text, "\n")
	one := template.Must(template.New("").Parse(`<pre class="log" id="log-{{.Name}}">{{.Text}}</pre>`))
	each := template.Must(template.New("").Parse(`<pre class="log" id="log-{{.Name}}">{{range .Lines}}{{.}}{{end}}</pre>`))
	data := map[string]any{"Name": "build", "Text": text, "Lines": lines}
	for _, c := range []struct {
		name string
		t    *template.Template
	}{{"one-string", one}, {"range-lines", each}} {
		b.Run(c.name, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := c.t.Execute(&buf, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogsPage5000Lines is the logs page of a job with a 5,000-line
// log, through the UI (session, API calls in process, template).
func BenchmarkLogsPage5000Lines(b *testing.B) {
	f := newFixture(b)
	ro := f.rollingB(b)
	text := fiveThousandLines()
	lines := strings.SplitAfter(text, "\n")
	for i := 0; i < len(lines); i += 100 {
		chunk := strings.Join(lines[i:min(i+100, len(lines))], "")
		if err := ro.agent.AppendLogs(ctx, "", ro.key, []shipgate.LogChunk{{Seq: int64(i/100 + 1), Stream: "stdout", Data: chunk, At: time.Now()}}); err != nil {
			b.Fatal(err)
		}
	}
	br := f.browser(b)
	br.login("viewer")
	path := fmt.Sprintf("/releases/%d/logs", ro.id)
	if code, page, _ := br.get(path); code != 200 || !strings.Contains(page, "linked &#34;ok&#34;") {
		b.Fatalf("logs page: %d", code)
	}
	for b.Loop() {
		br.get(path)
	}
}
