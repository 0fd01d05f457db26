package notify_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/reconcile"

	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// personService needs two release managers in production, whose
// notifications go to the team sink only.
const personService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: production
      approvals: {required: 2, from_groups: [release-managers], expires_after: 1h}
      notify: {sinks: [team]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

type personEnv struct {
	db    *sqlstore.DB
	clock *testutil.Clock
}

func newPersonEnv(t *testing.T, publicURL string, sinks ...config.Sink) *personEnv {
	db := testutil.NewStore(t, "sqlite")
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	enq := &notify.Enqueuer{Sinks: sinks, Source: "shipgate/test", PublicURL: publicURL}
	db.Outbox = enq.Outbox
	testutil.MustApply(t, db, personService)
	return &personEnv{db: db, clock: clock}
}

func (e *personEnv) create(t *testing.T, version string) *shipgate.Release {
	t.Helper()
	var r *shipgate.Release
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		var err error
		r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: version, Artifact: testutil.Artifact(version), CreatedBy: "carol"})
		return err
	})
	return r
}

// outbox returns the queued notifications, oldest first.
func (e *personEnv) outbox(t *testing.T) []sqlstore.Notification {
	t.Helper()
	var all []sqlstore.Notification
	e.db.View(ctx, func(tx *sqlstore.Tx) error { all, _ = tx.ListNotifications(ctx, "", 1000); return nil })
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

type cdevent struct {
	SpecVersion, ID, Source, Type, Subject string
	Data                                   struct {
		Context map[string]any `json:"context"`
		Subject struct {
			ID, Source, Type string
			Content          map[string]any
		} `json:"subject"`
		CustomData struct {
			Summary string `json:"summary"`
		} `json:"customData"`
	}
}

var (
	customTypeRE    = regexp.MustCompile(`^dev\.cdeventsx\.[a-zA-Z0-9]+-[a-zA-Z]+\.[a-zA-Z]+\.[0-9]\.[0-9]\.[0-9]$`)
	customSubjectRE = regexp.MustCompile(`^[a-zA-Z0-9]+-[a-zA-Z]+$`)
)

// decode reads a webhook payload and checks it against the official
// CDEvents v0.4.1 schemas and the custom-event rules (testdata/cdevents-v0.4.1/custom/schema.json):
// the type and subject type patterns, the required context fields, and
// the CloudEvents subject equal to the CDEvent subject's id.
func decode(t *testing.T, n sqlstore.Notification) cdevent {
	t.Helper()
	// The whole payload, as the server rendered it from the store (with
	// the tally, command and link describe adds), against the official
	// schemas.
	notify.LoadCDEventsSchemas(t)
	if _, err := notify.ValidateCloudEvent([]byte(n.Payload)); err != nil {
		t.Fatalf("%s is not a valid CDEvent: %v\n%s", n.EventType, err, n.Payload)
	}
	var ce cdevent
	if err := json.Unmarshal([]byte(n.Payload), &ce); err != nil {
		t.Fatalf("payload %s: %v", n.Payload, err)
	}
	if !customTypeRE.MatchString(ce.Type) || ce.Data.Context["type"] != ce.Type || !customSubjectRE.MatchString(ce.Data.Subject.Type) {
		t.Fatalf("not a valid custom CDEvent: type %q, subject type %q", ce.Type, ce.Data.Subject.Type)
	}
	for _, k := range []string{"version", "id", "source", "type", "timestamp"} {
		if s, _ := ce.Data.Context[k].(string); s == "" {
			t.Fatalf("context.%s missing in %s", k, n.Payload)
		}
	}
	if ce.Data.Subject.ID == "" || ce.Data.Subject.Content == nil || ce.Subject != ce.Data.Subject.ID {
		t.Fatalf("subject: cloudevent %q, cdevent %+v", ce.Subject, ce.Data.Subject)
	}
	return ce
}

// TestApprovalNeededGoesToTheEnvironmentsSink: a release that needs
// approvals announces it to the sink its environment names, with the
// required groups, the tally, the command and a link; the other sink,
// and the notifications of a release that needs none, stay quiet.
func TestApprovalNeededGoesToTheEnvironmentsSink(t *testing.T) {
	e := newPersonEnv(t, "https://shipgate.example.com/",
		config.Sink{Name: "team", Type: config.SinkWebhook, URL: "https://team.example.com/hook"},
		config.Sink{Name: "everyone", Type: config.SinkSlack, URL: "https://hooks.slack.example.com/x"})
	alice := testutil.MustUser(t, e.db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	r := e.create(t, "1.0")
	notes := e.outbox(t)
	if len(notes) != 1 || notes[0].Sink != "team" || notes[0].EventType != "dev.cdeventsx.shipgate-approval.needed.0.1.0" {
		t.Fatalf("outbox: %+v", notes)
	}
	ce := decode(t, notes[0])
	sum := ce.Data.CustomData.Summary
	for _, want := range []string{"needs 2 of release-managers (0 so far)", "shipgate approve " + itoa(r.ID), "https://shipgate.example.com/releases/" + itoa(r.ID)} {
		if !strings.Contains(sum, want) {
			t.Fatalf("summary %q lacks %q", sum, want)
		}
	}
	// A program reads the API's release; a person clicks its page.
	if c := ce.Data.Subject.Content; c["url"] != "https://shipgate.example.com/api/v1/releases/"+itoa(r.ID) || c["page"] != "https://shipgate.example.com/releases/"+itoa(r.ID) {
		t.Fatalf("subject links: %+v", c)
	}
	if c := ce.Data.Subject.Content; c["command"] != "shipgate approve "+itoa(r.ID) || c["required"] != float64(2) || ce.Data.Subject.Type != "shipgate-approval" {
		t.Fatalf("subject content: %+v", ce.Data.Subject)
	}
	// One approval: the tally moves; when it expires, people hear of it
	// with the tally as it is then.
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		_, _, err := reconcile.Decide(ctx, tx, alice, r.ID, shipgate.DecisionApprove, r.Digest, "")
		return err
	})
	e.clock.Add(time.Hour + time.Second)
	reconcileOne(t, e.db, r.ID)
	notes = e.outbox(t)
	last := notes[len(notes)-1]
	if last.EventType != "dev.cdeventsx.shipgate-approval.expired.0.1.0" || last.Sink != "team" {
		t.Fatalf("after expiry: %+v", notes)
	}
	if sum := decode(t, last).Data.CustomData.Summary; !strings.Contains(sum, "alice's approval") || !strings.Contains(sum, "needs 2 of release-managers (0 so far)") {
		t.Fatalf("expiry summary %q", sum)
	}
}

// TestPersonNotifications: a rollout paused for promote (with the command),
// an aborted rollout (with the reason), a rejected and a cancelled release
// each reach the environment's sink as valid CDEvents.
func TestPersonNotifications(t *testing.T) {
	e := newPersonEnv(t, "", config.Sink{Name: "team", Type: config.SinkWebhook, URL: "https://team.example.com/hook"})
	bob := testutil.MustUser(t, e.db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	r1, r2, r3 := e.create(t, "1.0"), e.create(t, "2.0"), e.create(t, "3.0")
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		return tx.Audit(ctx,
			shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionRolloutPaused, "release/"+itoa(r1.ID), map[string]any{"job": "deploy", "step": 1, "pause": 1, "reason": "manual pause after step 1"}),
			shipgate.NewAuditEvent(shipgate.SystemActor, shipgate.ActionRolloutAborted, "release/"+itoa(r1.ID), map[string]any{"job": "deploy", "step": 2, "weight": 20, "reason": "error rate 7% above 1%"}))
	})
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		if _, _, err := reconcile.Decide(ctx, tx, bob, r2.ID, shipgate.DecisionReject, r2.Digest, "wrong build"); err != nil {
			return err
		}
		_, err := reconcile.CancelRelease(ctx, tx, "carol", r3.ID, "superseded by 4.0")
		return err
	})
	want := map[string][]string{
		"dev.cdeventsx.shipgate-rollout.paused.0.1.0":    {"paused at step 1", "shipgate promote " + itoa(r1.ID), "manual pause after step 1"},
		"dev.cdeventsx.shipgate-rollout.aborted.0.1.0":   {"aborted at step 2", "error rate 7% above 1%"},
		"dev.cdeventsx.shipgate-release.rejected.0.1.0":  {"rejected by bob: wrong build"},
		"dev.cdeventsx.shipgate-release.cancelled.0.1.0": {"cancelled by carol: superseded by 4.0"},
	}
	for _, n := range e.outbox(t) {
		if strings.HasSuffix(n.EventType, ".needed.0.1.0") {
			continue
		}
		ce := decode(t, n)
		words, ok := want[n.EventType]
		if !ok {
			t.Fatalf("unexpected %s: %s", n.EventType, ce.Data.CustomData.Summary)
		}
		for _, w := range words {
			if !strings.Contains(ce.Data.CustomData.Summary, w) {
				t.Fatalf("%s summary %q lacks %q", n.EventType, ce.Data.CustomData.Summary, w)
			}
		}
		delete(want, n.EventType)
	}
	if len(want) > 0 {
		t.Fatalf("never notified: %v", want)
	}
}

// TestPagerDutyResolvesOnlyItsIncidents: a PagerDuty sink that was never
// sent a trigger for a release (its events list leaves release.failed out)
// gets no resolve when the release's rollback succeeds, nor when a rerun
// of a failed release succeeds.
func TestPagerDutyResolvesOnlyItsIncidents(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: rc.srv.URL, RoutingKey: "k", Events: []string{"release.succeeded"}})
	e.failAndRollBack(t)
	if bodies, _ := rc.got(); len(bodies) != 0 {
		t.Fatalf("pagerduty was sent %s for an incident it never had", bodies)
	}
}

func TestPagerDutyRerunResolvesOnlyItsIncident(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, config.Sink{Name: "pd", Type: config.SinkPagerDuty, URL: rc.srv.URL, RoutingKey: "k", Events: []string{"release.succeeded"}})
	v1 := e.deploy(t, "1.0", true) // nothing to roll back to
	testutil.Update(t, e.db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.RerunRelease(ctx, tx, "carol", v1.ID)
		return err
	})
	reconcileOne(t, e.db, v1.ID)
	if r := e.runJobs(t, v1.ID, false); r.State != shipgate.StateSucceeded {
		t.Fatalf("rerun: %s %q", r.State, r.Reason)
	}
	e.drain(t)
	if bodies, _ := rc.got(); len(bodies) != 0 {
		t.Fatalf("pagerduty was sent %s for an incident it never had", bodies)
	}
}

func reconcileOne(t *testing.T, db *sqlstore.DB, id int64) {
	t.Helper()
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, _, err := reconcile.Release(ctx, tx, id); return err })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
