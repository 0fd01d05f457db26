package runner_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/egress"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/runner"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

var ctx = context.Background()

// env is a store, a dispatcher and a runner working on it, all real.
type env struct {
	t        *testing.T
	db       *sqlstore.DB
	disp     *reconcile.Dispatcher
	dir      string
	artifact string
	sha      string
}

func newEnv(t *testing.T, jobsYAML string) *env {
	t.Helper()
	return newEnvWith(t, jobsYAML, func(*runner.Runner) {})
}

// newEnvWith is newEnv with the runner adjusted by setup before it runs.
func newEnvWith(t *testing.T, jobsYAML string, setup func(*runner.Runner)) *env {
	t.Helper()
	db := testutil.NewStore(t, "sqlite")
	key := make([]byte, shipgate.SecretKeySize)
	box, _ := shipgate.NewSecretBox(key)
	e := &env{t: t, db: db, dir: t.TempDir()}
	store, err := artifactstore.Open(filepath.Join(e.dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	// Releases made here name a path and store nothing, like releases made
	// before the store existed: the dispatcher imports them on first use.
	e.disp = &reconcile.Dispatcher{DB: db, Secrets: box, LeaseTTL: time.Minute, Work: &reconcile.Signal{},
		Artifacts: store, ArtifactSources: &artifactstore.Sources{Roots: []string{e.dir}}}
	e.artifact = filepath.Join(e.dir, "app.tar")
	os.WriteFile(e.artifact, []byte("the artifact"), 0o644)
	e.sha, _, _ = runner.HashFile(e.artifact)
	testutil.MustApply(t, db, `apiVersion: shipgate/v1
kind: Service
metadata: { name: app }
spec:
  environments:
    - name: staging
  pipeline:
    jobs:
`+jobsYAML)
	r := &runner.Runner{
		Coord: e.disp, Info: shipgate.RunnerInfo{Name: "test-runner", Labels: map[string]string{"shipgate.local": "true"}},
		WorkDir: filepath.Join(e.dir, "work"), Slots: 2, HeartbeatInterval: 50 * time.Millisecond, KillGrace: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	setup(r)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx, runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return e
}

func (e *env) release(inputs, secrets map[string]string) int64 {
	e.t.Helper()
	sealed := map[string]sqlstore.SealedSecret{}
	for k, v := range secrets {
		sealed[k] = sqlstore.SealedSecret{Sealed: e.disp.Secrets.Seal(k, v), Fingerprint: e.disp.Secrets.Fingerprint(k, v)}
	}
	var id int64
	testutil.Update(e.t, e.db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "app", Environment: "staging", Version: "1.0",
			Artifact: shipgate.Artifact{Location: e.artifact, SHA256: e.sha}, Inputs: inputs, Secrets: sealed, CreatedBy: "tester"})
		if err != nil {
			return err
		}
		id = r.ID
		_, _, err = reconcile.Release(ctx, tx, id)
		return err
	})
	e.disp.Work.Notify()
	return id
}

func (e *env) find(id int64) *shipgate.Release {
	var r *shipgate.Release
	e.db.View(ctx, func(tx *sqlstore.Tx) error { r, _ = tx.FindRelease(ctx, id); return nil })
	return r
}

func (e *env) wait(id int64) *shipgate.Release {
	e.t.Helper()
	var r *shipgate.Release
	testutil.WaitFor(e.t, fmt.Sprintf("release %d to finish", id), func() bool {
		// Expired leases and timers are the reconciler's; run it as the
		// server's loop would.
		reconcile.NewReconciler(e.db, nil).RunOnce(ctx)
		r = e.find(id)
		return r.State.Final()
	})
	return r
}

func (e *env) jobs(id int64) map[string]shipgate.JobRun {
	r := e.find(id)
	out := map[string]shipgate.JobRun{}
	e.db.View(ctx, func(tx *sqlstore.Tx) error {
		js, _ := tx.ListJobs(ctx, id, r.Run)
		for _, j := range js {
			out[j.Name] = j
		}
		return nil
	})
	return out
}

func (e *env) logs(id int64, job string) string {
	var b strings.Builder
	e.db.View(ctx, func(tx *sqlstore.Tx) error {
		chunks, _ := tx.ListLogs(ctx, id, e.find(id).Run, job, 0, 0)
		for _, c := range chunks {
			b.WriteString(c.Data)
		}
		return nil
	})
	return b.String()
}

func TestStepsEnvironmentAndLogs(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        env: { MODE: blue }
        steps:
          - run: |
              echo "release=$SHIPGATE_RELEASE_ID version=$SHIPGATE_VERSION mode=$MODE"
              echo "greeting=$SHIPGATE_INPUT_GREETING"
              echo "password is $SHIPGATE_INPUT_DB_PASSWORD"
              cat "$SHIPGATE_ARTIFACT_PATH"; echo
              echo to-stderr >&2
              printf 'no newline at the end'
          - exec: [sh, -c, 'echo "argv sees $SHIPGATE_INPUT_GREETING"', ignored]
      - name: after
        needs: [deploy]
        steps:
          - exec: ["/bin/echo", "second job ran"]
`)
	// An input that looks like shell code stays data.
	id := e.release(map[string]string{"greeting": `hi $(touch pwned); echo "`}, map[string]string{"db_password": "hunter2-secret"})
	r := e.wait(id)
	if r.State != shipgate.StateSucceeded {
		t.Fatalf("release %s: %s\n%s", r.State, r.Reason, e.logs(id, ""))
	}
	logs := e.logs(id, "deploy")
	for _, want := range []string{
		fmt.Sprintf("release=%d version=1.0 mode=blue", id),
		`greeting=hi $(touch pwned); echo "`,
		"password is ***",
		"the artifact",
		"to-stderr",
		"no newline at the end\n",
		`argv sees hi $(touch pwned); echo "`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("deploy log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "hunter2-secret") {
		t.Error("secret printed in the log")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "work", "jobs", fmt.Sprintf("r%d-run1-deploy-a1", id), "pwned")); err == nil {
		t.Error("an input was executed as shell code")
	}
	if !strings.Contains(e.logs(id, "after"), "second job ran") {
		t.Error("second job did not run after the first")
	}
}

func TestFailingStepFailsReleaseAfterRetries(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        retries: 1
        steps:
          - run: echo "attempt $SHIPGATE_ATTEMPT"; exit 3
          - run: echo never
`)
	id := e.release(nil, nil)
	r := e.wait(id)
	if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "exited with status 3") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	j := e.jobs(id)["deploy"]
	if j.Attempt != 2 || j.ExitCode == nil || *j.ExitCode != 3 {
		t.Fatalf("job = %+v", j)
	}
	logs := e.logs(id, "deploy")
	if strings.Contains(logs, "never") || !strings.Contains(logs, "attempt 2") {
		t.Fatalf("logs:\n%s", logs)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestTimeoutKillsProcessGroup(t *testing.T) {
	e := newEnv(t, `
      - name: hang
        timeout: 1s
        steps:
          - run: |
              sleep 300 &
              echo $! > "$SHIPGATE_WORKSPACE/child.pid"
              wait
`)
	id := e.release(nil, nil)
	r := e.wait(id)
	if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "timed out after 1s") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "work", "jobs", fmt.Sprintf("r%d-run1-hang-a1", id), "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	testutil.WaitFor(t, "the step's child to be gone", func() bool { return !alive(pid) })
}

func TestCancelStopsRunningStep(t *testing.T) {
	e := newEnv(t, `
      - name: slow
        steps:
          - run: echo started; sleep 300
`)
	id := e.release(nil, nil)
	testutil.WaitFor(t, "the step to start", func() bool { return strings.Contains(e.logs(id, "slow"), "started") })
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "tester", id, "stop it")
		return err
	})
	testutil.WaitFor(t, "the runner to report the stop", func() bool {
		j := e.jobs(id)["slow"]
		return j.ExitCode != nil
	})
	if r := e.find(id); r.State != shipgate.StateCancelled {
		t.Fatalf("release %s", r.State)
	}
	if logs := e.logs(id, "slow"); !strings.Contains(logs, "stopped by the server") && !strings.Contains(logs, "was stopped") {
		t.Fatalf("log does not say the step was stopped:\n%s", logs)
	}
}

func TestArtifactMismatchFailsBeforeSteps(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        steps:
          - run: touch "$SHIPGATE_WORKSPACE/../../ran"
`)
	// The release records the digest of the file as it was; the file is
	// swapped before any runner fetched it.
	os.WriteFile(e.artifact, []byte("swapped after release creation"), 0o644)
	id := e.release(nil, nil)
	r := e.wait(id)
	if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "checksum mismatch") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "work", "ran")); err == nil {
		t.Fatal("a step ran with the wrong artifact")
	}
	// Restoring the file makes the next release run: the digest decides.
	os.WriteFile(e.artifact, []byte("the artifact"), 0o644)
	if r := e.wait(e.release(nil, nil)); r.State != shipgate.StateSucceeded {
		t.Fatalf("release with the right artifact: %s %q", r.State, r.Reason)
	}
}

func TestArtifactDownload(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "the artifact")
	}))
	defer srv.Close()
	e := newEnv(t, `
      - name: deploy
        steps:
          - run: cat "$SHIPGATE_ARTIFACT_PATH"
`)
	e.artifact = srv.URL + "/app.tar"
	for i := 0; i < 2; i++ {
		id := e.release(nil, nil)
		if r := e.wait(id); r.State != shipgate.StateSucceeded || !strings.Contains(e.logs(id, "deploy"), "the artifact") {
			t.Fatalf("release %s: %s", r.State, r.Reason)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("artifact downloaded %d times; the cache by digest should make it once", hits.Load())
	}
}

// An artifact the server stored comes from the server, even when its
// location is a URL: what the URL serves now is not what was pinned.
func TestStoredURLArtifactComesFromTheServer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "replaced since the release was created")
	}))
	defer srv.Close()
	e := newEnv(t, `
      - name: deploy
        steps:
          - run: cat "$SHIPGATE_ARTIFACT_PATH"
`)
	if _, err := e.disp.Artifacts.Put(strings.NewReader("the artifact"), e.sha); err != nil {
		t.Fatal(err)
	}
	var id int64
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "app", Environment: "staging", Version: "1.0",
			Artifact: shipgate.Artifact{Location: srv.URL + "/app.tar", SHA256: e.sha, Size: 12, Stored: true}, CreatedBy: "tester"})
		if err != nil {
			return err
		}
		id = r.ID
		_, _, err = reconcile.Release(ctx, tx, id)
		return err
	})
	e.disp.Work.Notify()
	if r := e.wait(id); r.State != shipgate.StateSucceeded || !strings.Contains(e.logs(id, "deploy"), "the artifact") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	if hits.Load() != 0 {
		t.Fatalf("the runner downloaded the URL %d times instead of taking the stored bytes", hits.Load())
	}
}

// The runner built into the server downloads with the server's egress
// policy: an artifact URL on loopback is refused, never fetched.
func TestArtifactDownloadUsesTheRunnersClient(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "the artifact")
	}))
	defer srv.Close()
	e := newEnvWith(t, `
      - name: deploy
        steps:
          - run: cat "$SHIPGATE_ARTIFACT_PATH"
`, func(r *runner.Runner) { r.HTTPClient = (&egress.Policy{}).Client(0) })
	e.artifact = srv.URL + "/app.tar"
	if r := e.wait(e.release(nil, nil)); r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "egress policy") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	if hits.Load() != 0 {
		t.Fatal("a refused artifact URL was fetched")
	}
}

func TestHealthCheck(t *testing.T) {
	var healthy atomic.Bool
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := probes.Add(1)
		if healthy.Load() || n == 2 { // probe 2 is a blip on a healthy service
			io.WriteString(w, "ok")
			return
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	e := newEnv(t, fmt.Sprintf(`
      - name: health
        check:
          http: { url: "%s/healthz", expect_status: 200, body_contains: ok, timeout: 10s }
          interval: 20ms
          fail_after: 3
          pass_after: 2
`, srv.URL))
	// The probe timeout is explicit: by default it is the interval (20ms),
	// which a loaded machine can miss before the request reaches the
	// server, and the count below is of the probes the server answered.
	// Unhealthy: fails after exactly fail_after consecutive failures; the
	// success at probe 2 resets the streak.
	id := e.release(nil, nil)
	r := e.wait(id)
	if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "failed 3 times in a row") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	if n := probes.Load(); n != 5 { // fail, pass (blip), fail, fail, fail
		t.Fatalf("%d probes, want 5", n)
	}
	healthy.Store(true)
	id = e.release(nil, nil)
	if r := e.wait(id); r.State != shipgate.StateSucceeded {
		t.Fatalf("healthy release %s: %q\n%s", r.State, r.Reason, e.logs(id, "health"))
	}
}

func TestBackgroundChildDoesNotHoldTheStep(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        timeout: 1m
        steps:
          - run: |
              sleep 300 &
              echo $! > "$SHIPGATE_WORKSPACE/child.pid"
              echo "main part done"
`)
	id := e.release(nil, nil)
	r := e.wait(id)
	if r.State != shipgate.StateSucceeded {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	// Succeeded, not "timed out after 1m": the child did not hold the step.
	b, _ := os.ReadFile(filepath.Join(e.dir, "work", "jobs", fmt.Sprintf("r%d-run1-deploy-a1", id), "child.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	testutil.WaitFor(t, "the leftover child to be stopped", func() bool { return pid > 0 && !alive(pid) })
}

func TestHardStopLeavesTheAttemptToItsLease(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        runs_on: { role: special }
        steps:
          - run: echo started; sleep 300
`)
	hard, stop := context.WithCancel(ctx)
	r := &runner.Runner{Coord: e.disp, Info: shipgate.RunnerInfo{Name: "special", Labels: map[string]string{"role": "special"}},
		WorkDir: filepath.Join(e.dir, "special"), HeartbeatInterval: 50 * time.Millisecond, KillGrace: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(hard, hard) }()
	id := e.release(nil, nil)
	testutil.WaitFor(t, "the step to start", func() bool { return strings.Contains(e.logs(id, "deploy"), "started") })
	stop()
	<-done
	if j := e.jobs(id)["deploy"]; j.State != shipgate.JobRunning || j.Runner != "special" {
		t.Fatalf("after a hard stop the job is %s %q; it should wait for its lease", j.State, j.Reason)
	}
	if rel := e.find(id); rel.State != shipgate.StateRunning {
		t.Fatalf("release %s after a runner shutdown", rel.State)
	}
}

func (e *env) runner(name string, hard context.Context) chan struct{} {
	r := &runner.Runner{Coord: e.disp, Info: shipgate.RunnerInfo{Name: name, Labels: map[string]string{"role": "special"}},
		WorkDir: filepath.Join(e.dir, name), HeartbeatInterval: 50 * time.Millisecond, KillGrace: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(hard, hard) }()
	return done
}

// A runner that restarts while a step runs reports the attempt as
// interrupted: it never starts it a second time.
func TestRestartedRunnerDoesNotRerunAStartedAttempt(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        runs_on: { role: special }
        steps:
          - run: echo started >> "$SHIPGATE_WORKSPACE/../../../count"; sleep 300
`)
	hard, stop := context.WithCancel(ctx)
	done := e.runner("special", hard)
	id := e.release(nil, nil)
	count := filepath.Join(e.dir, "count")
	testutil.WaitFor(t, "the step to start", func() bool { b, _ := os.ReadFile(count); return len(b) > 0 })
	stop()
	<-done
	hard2, stop2 := context.WithCancel(ctx)
	defer stop2()
	done2 := e.runner("special", hard2)
	r := e.wait(id)
	stop2()
	<-done2
	if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "restarted while the attempt was running") {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "started") != 1 {
		t.Fatalf("the step started %d times", strings.Count(string(b), "started"))
	}
}

// An attempt whose claim answer never reached the runner is handed back
// without using up a retry, and runs once.
func TestLostClaimIsHandedBack(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        runs_on: { role: special }
        steps:
          - run: echo ran >> "$SHIPGATE_WORKSPACE/../../../count"
`)
	id := e.release(nil, nil)
	// The server grants a claim of this runner instance whose answer is lost.
	os.MkdirAll(filepath.Join(e.dir, "special"), 0o700)
	os.WriteFile(filepath.Join(e.dir, "special", "instance-id"), []byte("inst1\n"), 0o600)
	if _, ok, err := e.disp.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "special", Labels: map[string]string{"role": "special"}}, ClaimID: "inst1.lost"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	hard, stop := context.WithCancel(ctx)
	defer stop()
	done := e.runner("special", hard)
	r := e.wait(id)
	stop()
	<-done
	if r.State != shipgate.StateSucceeded {
		t.Fatalf("release %s: %q", r.State, r.Reason)
	}
	if j := e.jobs(id)["deploy"]; j.Attempt != 2 || j.MaxAttempts != 2 {
		t.Fatalf("attempt %d of %d", j.Attempt, j.MaxAttempts)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "count")); strings.Count(string(b), "ran") != 1 {
		t.Fatalf("ran %d times", strings.Count(string(b), "ran"))
	}
}

// A second process using the same runner name, from another work dir, does
// not settle the first one's running attempt: it is not its own.
func TestOtherInstanceLeavesRunningAttemptAlone(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        runs_on: { role: special }
        steps:
          - run: echo started >> "$SHIPGATE_WORKSPACE/../../../count"; exec sleep 300
`)
	hard, stop := context.WithCancel(ctx)
	defer stop()
	done := e.runner("special", hard)
	id := e.release(nil, nil)
	count := filepath.Join(e.dir, "count")
	testutil.WaitFor(t, "the step to start", func() bool { b, _ := os.ReadFile(count); return len(b) > 0 })

	other := &runner.Runner{Coord: e.disp, Info: shipgate.RunnerInfo{Name: "special", Labels: map[string]string{"role": "special"}},
		WorkDir: filepath.Join(e.dir, "elsewhere"), HeartbeatInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ready := make(chan struct{})
	other.Ready = func() { close(ready) }
	otherCtx, stopOther := context.WithCancel(ctx)
	otherDone := make(chan struct{})
	go func() { defer close(otherDone); other.Run(otherCtx, otherCtx) }()
	<-ready // it has looked at what "special" holds
	stopOther()
	<-otherDone
	if j := e.jobs(id)["deploy"]; j.State != shipgate.JobRunning || j.Attempt != 1 {
		t.Fatalf("the other instance settled the running attempt: %s attempt %d %q", j.State, j.Attempt, j.Reason)
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "started") != 1 {
		t.Fatalf("started %d times", strings.Count(string(b), "started"))
	}
	stop()
	<-done
}

// A check that fails, then passes again while its rollback waits, calls the
// rollback off; the release stays failed and nothing is rolled back.
func TestRecoveryDuringDelayCallsRollbackOff(t *testing.T) {
	var probes, unhealthyFrom, healthyFrom atomic.Int32
	unhealthyFrom.Store(1 << 30)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := probes.Add(1)
		if n >= unhealthyFrom.Load() && n < healthyFrom.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	healthyFrom.Store(1 << 30)
	e := newEnv(t, fmt.Sprintf(`
      - name: health
        check:
          http: { url: "%s/" }
          interval: 20ms
          fail_after: 3
          pass_after: 2
`, srv.URL))
	// A rollback policy on the environment, and a first release to roll back to.
	testutil.MustApply(t, e.db, strings.Replace(`apiVersion: shipgate/v1
kind: Service
metadata: { name: app }
spec:
  environments:
    - name: staging
      rollback: { enabled: true, check_target: health, delay_seconds: 30 }
  pipeline:
    jobs:
      - name: health
        check:
          http: { url: "URL/" }
          interval: 20ms
          fail_after: 3
          pass_after: 2
`, "URL", srv.URL, 1))
	if r := e.wait(e.release(nil, nil)); r.State != shipgate.StateSucceeded {
		t.Fatalf("first release %s", r.State)
	}
	unhealthyFrom.Store(probes.Load() + 1)
	healthyFrom.Store(probes.Load() + 1 + 4)             // 3 failures fail it, one more while watching, then healthy
	os.WriteFile(e.artifact, []byte("version 2"), 0o644) // a new build: there is something to roll back to
	e.sha, _, _ = runner.HashFile(e.artifact)
	id := e.release(nil, nil)
	r := e.wait(id)
	if r.State != shipgate.StateFailed {
		t.Fatalf("second release %s", r.State)
	}
	var rb *shipgate.Rollback
	testutil.WaitFor(t, "the rollback to be called off", func() bool {
		e.db.View(ctx, func(tx *sqlstore.Tx) error { rb, _ = tx.FindRollback(ctx, id); return nil })
		return rb != nil && rb.State == shipgate.RollbackCalledOff
	})
	if !strings.Contains(rb.Reason, "recovered") {
		t.Fatalf("called off because %q", rb.Reason)
	}
	// The log line may land just after the report that called it off.
	testutil.WaitForNil(t, "the health log to say it recovered", func() error {
		if logs := e.logs(id, "health"); !strings.Contains(logs, "watch probe") || !strings.Contains(logs, "recovered: 2 consecutive passes") {
			return fmt.Errorf("health log:\n%s", logs)
		}
		return nil
	})
}

// unreachableArtifacts is the server briefly unreachable when the runner
// fetches an artifact.
type unreachableArtifacts struct {
	*reconcile.Dispatcher
	fails atomic.Int32
}

func (u *unreachableArtifacts) Artifact(ctx context.Context, runner string, key shipgate.AttemptKey) (io.ReadCloser, error) {
	if u.fails.Add(-1) >= 0 {
		return nil, fmt.Errorf("cannot reach shipgate server: connection refused")
	}
	return u.Dispatcher.Artifact(ctx, runner, key)
}

func TestArtifactFetchWaitsForTheServer(t *testing.T) {
	e := newEnv(t, `
      - name: deploy
        runs_on: { role: special }
        steps:
          - run: cat "$SHIPGATE_ARTIFACT_PATH"
`)
	coord := &unreachableArtifacts{Dispatcher: e.disp}
	coord.fails.Store(2)
	r := &runner.Runner{Coord: coord, Info: shipgate.RunnerInfo{Name: "special", Labels: map[string]string{"role": "special"}},
		WorkDir: filepath.Join(e.dir, "special"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	hard, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(hard, hard) }()
	defer func() { stop(); <-done }()
	id := e.release(nil, nil)
	if rel := e.wait(id); rel.State != shipgate.StateSucceeded || !strings.Contains(e.logs(id, "deploy"), "the artifact") {
		t.Fatalf("release %s: %q", rel.State, rel.Reason)
	}
	if coord.fails.Load() >= 0 {
		t.Fatal("the artifact was never unreachable")
	}
}
