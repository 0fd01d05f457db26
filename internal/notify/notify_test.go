package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/egress"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
	"github.com/shipgate/shipgate/webhook"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}

// receiver records what reaches it; fail makes its first N answers 500,
// hang makes it never answer until the test ends.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	fail   atomic.Int32
	hang   chan struct{}
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.hang != nil {
			<-rc.hang
		}
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies, rc.heads = append(rc.bodies, b), append(rc.heads, r.Header.Clone())
		rc.mu.Unlock()
		if rc.fail.Add(-1) >= 0 {
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(func() {
		if rc.hang != nil {
			close(rc.hang)
		}
		rc.srv.Close()
	})
	return rc
}

func (rc *receiver) got() ([][]byte, []http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...), append([]http.Header(nil), rc.heads...)
}

type env struct {
	db     *sqlstore.DB
	worker *notify.Worker
	disp   *reconcile.Dispatcher
}

// newEnv is a store and a worker for the sinks; its egress policy lists
// the sinks' hosts and ports, as a server's config would for receivers on
// loopback.
func newEnv(t *testing.T, sinks ...config.Sink) *env {
	db := testutil.NewStore(t, "sqlite")
	enq := &notify.Enqueuer{Sinks: sinks, Source: "shipgate/test"}
	var allow []egress.Rule
	for _, s := range sinks {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		r, err := egress.ParseRule(u.Host)
		if err != nil {
			t.Fatal(err)
		}
		allow = append(allow, r)
	}
	w := &notify.Worker{DB: db, Sinks: sinks, MaxAttempts: 10, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Client: (&egress.Policy{Allow: allow}).Client(300 * time.Millisecond)}
	db.Outbox = enq.Outbox
	testutil.MustApply(t, db, `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      rollback: {enabled: true, check_target: pipeline, delay_seconds: 0}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`)
	return &env{db: db, worker: w, disp: &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}}
}

// deploy creates a release and runs its jobs to the end, failing them when
// fail is set, and returns the release.
func (e *env) deploy(t *testing.T, version string, fail bool) *shipgate.Release {
	t.Helper()
	var id int64
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: version, Artifact: testutil.Artifact(version), CreatedBy: "carol"})
		if err != nil {
			return err
		}
		id = r.ID
		_, _, err = reconcile.Release(ctx, tx, id)
		return err
	})
	return e.runJobs(t, id, fail)
}

func (e *env) runJobs(t *testing.T, id int64, fail bool) *shipgate.Release {
	return e.runJobsFailing(t, id, func(a *shipgate.Assignment) bool { return fail && a.Key.ReleaseID == id })
}

func (e *env) runJobsFailing(t *testing.T, id int64, fails func(*shipgate.Assignment) bool) *shipgate.Release {
	t.Helper()
	for {
		a, ok, err := e.disp.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		e.disp.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Succeeded: !fails(a), Reason: "broken"})
	}
	var r *shipgate.Release
	e.db.View(ctx, func(tx *sqlstore.Tx) error { r, _ = tx.FindRelease(ctx, id); return nil })
	return r
}

// drain runs delivery passes until nothing is due and nothing pending.
func (e *env) drain(t *testing.T) {
	t.Helper()
	testutil.WaitFor(t, "no notification to be pending", func() bool {
		e.worker.RunOnce(ctx)
		var pending []sqlstore.Notification
		e.db.View(ctx, func(tx *sqlstore.Tx) error {
			pending, _ = tx.ListNotifications(ctx, sqlstore.NotifyPending, 100)
			return nil
		})
		return len(pending) == 0
	})
}

func TestWebhookSignedAndRetriedExactlyOnce(t *testing.T) {
	rc := newReceiver(t)
	rc.fail.Store(3)
	e := newEnv(t, config.Sink{Name: "hook", Type: config.SinkWebhook, URL: rc.srv.URL, Secrets: []string{"s3cret", "old-s3cret"}, Events: []string{"release.succeeded"}})
	r := e.deploy(t, "1.0", false)
	if r.State != shipgate.StateSucceeded {
		t.Fatalf("release %s", r.State)
	}
	e.drain(t)
	for i := 0; i < 5; i++ {
		e.worker.RunOnce(ctx) // nothing more may go out
	}
	bodies, heads := rc.got()
	if len(bodies) != 4 {
		t.Fatalf("the receiver got %d requests; want 3 refused + 1 accepted", len(bodies))
	}
	for i, b := range bodies {
		if string(b) != string(bodies[0]) || heads[i].Get("X-Shipgate-Delivery") != heads[0].Get("X-Shipgate-Delivery") {
			t.Fatal("retries must resend the same event")
		}
		// The sink is rotating its secret: a receiver holding either
		// one verifies.
		for _, secret := range []string{"s3cret", "old-s3cret"} {
			if err := webhook.Verify(heads[i].Get("X-Shipgate-Signature"), b, time.Now(), 5*time.Minute, secret); err != nil {
				t.Fatalf("signature with %s: %v", secret, err)
			}
		}
	}
	if n := strings.Count(heads[0].Get(webhook.Header), "v1="); n != 2 {
		t.Fatalf("%d v1 values for two secrets: %s", n, heads[0].Get(webhook.Header))
	}
	if err := webhook.Verify(heads[0].Get("X-Shipgate-Signature"), bodies[0], time.Now(), 5*time.Minute, "wrong"); err == nil {
		t.Fatal("a wrong secret verified")
	}
	if err := webhook.Verify(heads[0].Get("X-Shipgate-Signature"), append(bodies[0], ' '), time.Now(), 5*time.Minute, "s3cret"); err == nil {
		t.Fatal("a changed body verified")
	}
	var ce struct {
		SpecVersion, Type, ID string
		Data                  struct {
			Context struct{ Type, Version string }
			Subject struct {
				Type    string
				Content struct {
					Environment struct{ ID string }
					ArtifactID  string
				}
			}
		}
	}
	if err := json.Unmarshal(bodies[0], &ce); err != nil {
		t.Fatal(err)
	}
	if ce.SpecVersion != "1.0" || ce.Type != "dev.cdevents.service.deployed.0.2.0" || ce.Data.Context.Type != ce.Type ||
		ce.Data.Subject.Content.Environment.ID != "production" || !strings.HasPrefix(ce.Data.Subject.Content.ArtifactID, "pkg:generic/web@1.0") {
		t.Fatalf("cloudevent: %s", bodies[0])
	}
	if heads[0].Get("Content-Type") != "application/cloudevents+json" {
		t.Fatalf("content type %q", heads[0].Get("Content-Type"))
	}
}

func TestReleaseDoesNotWaitForNotifications(t *testing.T) {
	rc := newReceiver(t)
	rc.hang = make(chan struct{})
	e := newEnv(t, config.Sink{Name: "hook", Type: config.SinkWebhook, URL: rc.srv.URL})
	go e.worker.Run(t.Context())
	r := e.deploy(t, "1.0", false)
	if r.State != shipgate.StateSucceeded {
		t.Fatalf("release %s while its receiver hangs", r.State)
	}
}

func TestGivenUpAfterMaxAttempts(t *testing.T) {
	rc := newReceiver(t)
	rc.fail.Store(1000)
	e := newEnv(t, config.Sink{Name: "hook", Type: config.SinkWebhook, URL: rc.srv.URL, Events: []string{"release.succeeded"}})
	e.worker.MaxAttempts = 3
	e.deploy(t, "1.0", false)
	e.drain(t)
	var failed []sqlstore.Notification
	e.db.View(ctx, func(tx *sqlstore.Tx) error {
		failed, _ = tx.ListNotifications(ctx, sqlstore.NotifyFailed, 10)
		return nil
	})
	if len(failed) != 1 || failed[0].Attempts != 3 || !strings.Contains(failed[0].LastError, "HTTP 500") {
		t.Fatalf("failed notifications: %+v", failed)
	}
}

func TestPagerDutyTriggerAndResolveShareDedupKey(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: rc.srv.URL, RoutingKey: "R0UTING"})
	v2 := e.failAndRollBack(t)
	bodies, _ := rc.got()
	var events []struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     struct{ Summary, Severity string }
	}
	for _, b := range bodies {
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     struct{ Summary, Severity string }
		}
		json.Unmarshal(b, &ev)
		events = append(events, ev)
	}
	if len(events) != 2 || events[0].EventAction != "trigger" || events[1].EventAction != "resolve" {
		t.Fatalf("pagerduty events: %s", bodies)
	}
	if events[0].DedupKey != notify.DedupKey(v2.ID) || events[1].DedupKey != events[0].DedupKey || events[0].RoutingKey != "R0UTING" {
		t.Fatalf("dedup keys %q %q, routing key %q", events[0].DedupKey, events[1].DedupKey, events[0].RoutingKey)
	}
	if !strings.Contains(events[0].Payload.Summary, "failed") || events[0].Payload.Severity != "error" {
		t.Fatalf("trigger payload: %+v", events[0].Payload)
	}
	// The routing key is added at delivery; it is never stored.
	var all []sqlstore.Notification
	e.db.View(ctx, func(tx *sqlstore.Tx) error { all, _ = tx.ListNotifications(ctx, "", 100); return nil })
	for _, n := range all {
		if strings.Contains(n.Payload, "R0UTING") {
			t.Fatal("routing key stored in the outbox")
		}
	}
}

func TestServerConfig(t *testing.T) {
	env := map[string]string{"HOOK_SECRET": "from-env"}
	cfg, err := config.ParseServerConfig("server.yaml", []byte(`notifications:
  max_attempts: 5
  sinks:
    - {name: hook, type: webhook, url: "https://hooks.example/x", secret_env: HOOK_SECRET}
    - {name: pd, type: pagerduty, routing_key: abc}
`), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Notifications.Sinks[0].Secrets) != 1 || cfg.Notifications.Sinks[0].Secrets[0] != "from-env" || cfg.Notifications.Sinks[1].URL != config.PagerDutyEventsURL || cfg.Notifications.MaxAttempts != 5 {
		t.Fatalf("config %+v", cfg)
	}
	for _, bad := range []struct{ src, want string }{
		{"notifications:\n  sinks:\n    - {name: x, type: email, url: \"https://a\"}\n", `server.yaml:3: sink "x" has type "email"`},
		{"notifications:\n  sinkz: []\n", `server.yaml:2: unknown key "sinkz"`},
		{"notifications:\n  sinks:\n    - {name: x, type: webhook, url: \"https://a\", secret_env: NOPE}\n", "NOPE, which is not set"},
		{"notifications:\n  sinks:\n    - {name: x, type: pagerduty}\n", "needs routing_key"},
	} {
		if _, err := config.ParseServerConfig("server.yaml", []byte(bad.src), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v", bad.src, err)
		}
	}
}

func TestSinkActionsMatchNotifyingActions(t *testing.T) {
	if strings.Join(notify.Actions, ",") != strings.Join(config.NotifyActions, ",") {
		t.Fatalf("notify.Actions %v and config.NotifyActions %v differ", notify.Actions, config.NotifyActions)
	}
	_, err := config.ParseServerConfig("s.yaml", []byte("notifications:\n  sinks:\n    - name: x\n      type: slack\n      url: \"https://a\"\n      events: [release.faild]\n"), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `s.yaml:6: event "release.faild" never notifies`) {
		t.Fatalf("typo in events: %v", err)
	}
}

func TestDeliveryErrorHidesTheURL(t *testing.T) {
	e := newEnv(t, config.Sink{Name: "chat", Type: config.SinkSlack, URL: "http://127.0.0.1:1/services/T000/B000/SECRETPART", Events: []string{"release.succeeded"}})
	e.worker.MaxAttempts = 1
	e.deploy(t, "1.0", false)
	e.drain(t)
	var failed []sqlstore.Notification
	e.db.View(ctx, func(tx *sqlstore.Tx) error {
		failed, _ = tx.ListNotifications(ctx, sqlstore.NotifyFailed, 10)
		return nil
	})
	if len(failed) != 1 || strings.Contains(failed[0].LastError, "SECRETPART") || !strings.Contains(failed[0].LastError, "sink chat") {
		t.Fatalf("last error %+v", failed)
	}
}

// A failing rollback release raises the incident of the release it rolls
// back, never one of its own that nothing would resolve.
func TestPagerDutyFailedRollbackKeepsOneIncident(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: rc.srv.URL, RoutingKey: "k"})
	e.deploy(t, "1.0", false)
	var id int64
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: "2.0", Artifact: testutil.Artifact("2.0"), CreatedBy: "carol"})
		if err != nil {
			return err
		}
		id = r.ID
		_, _, err = reconcile.Release(ctx, tx, id)
		return err
	})
	v2 := e.runJobsFailing(t, id, func(*shipgate.Assignment) bool { return true }) // the rollback's jobs fail too
	var rb *shipgate.Rollback
	e.db.View(ctx, func(tx *sqlstore.Tx) error { rb, _ = tx.FindRollback(ctx, v2.ID); return nil })
	if rb == nil || rb.State != shipgate.RollbackFailed {
		t.Fatalf("rollback %+v", rb)
	}
	e.drain(t)
	bodies, _ := rc.got()
	for _, b := range bodies {
		var ev struct {
			DedupKey string `json:"dedup_key"`
		}
		json.Unmarshal(b, &ev)
		if ev.DedupKey != notify.DedupKey(v2.ID) {
			t.Fatalf("an event about another incident: %s", b)
		}
	}
	if len(bodies) != 2 {
		t.Fatalf("%d events, want the failure's trigger and the failed rollback's", len(bodies))
	}
}

// An event about a release that does not exist — a refusal of
// /releases/424242 is audited with subject release/424242 — is recorded
// without a notification, whatever the sinks; it never fails the audit
// write.
func TestEventsAboutMissingReleasesAreRecorded(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, config.Sink{Name: "hook", Type: config.SinkWebhook, URL: rc.srv.URL})
	for _, action := range []string{shipgate.ActionAccessDenied, shipgate.ActionReleaseFailed} {
		ev := shipgate.NewAuditEvent("vic", action, "release/424242", map[string]any{"status": 403})
		if err := e.db.Update(ctx, func(tx *sqlstore.Tx) error { return tx.Audit(ctx, ev) }); err != nil {
			t.Fatalf("%s about a missing release: %v", action, err)
		}
	}
	var n int
	if err := e.db.View(ctx, func(tx *sqlstore.Tx) error {
		list, err := tx.ListNotifications(ctx, "", 100)
		n = len(list)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d notifications queued about a release that does not exist", n)
	}
}

// failAndRollBack deploys 1.0, then a 2.0 that fails, whose policy rolls
// back to 1.0 at once; the rollback release succeeds and the outbox is
// drained. It returns the failed 2.0.
func (e *env) failAndRollBack(t *testing.T) *shipgate.Release {
	t.Helper()
	e.deploy(t, "1.0", false)
	v2 := e.deploy(t, "2.0", true)
	var rb *shipgate.Rollback
	e.db.View(ctx, func(tx *sqlstore.Tx) error { rb, _ = tx.FindRollback(ctx, v2.ID); return nil })
	if rb == nil || rb.RollbackRelease == 0 {
		t.Fatalf("no rollback release: %+v", rb)
	}
	if rr := e.runJobs(t, rb.RollbackRelease, false); rr.State != shipgate.StateSucceeded {
		t.Fatalf("rollback release %s", rr.State)
	}
	e.drain(t)
	return v2
}
