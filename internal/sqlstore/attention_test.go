package sqlstore_test

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// attentionService re-notifies and escalates waits for a person: a
// production release waiting for approvals, a staging rollout paused for
// promote.
const attentionService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: staging
      notify: {renotify_after: 10m, escalate_after: 1h, escalate_to: [pd]}
    - name: production
      approvals: {required: 2, from_groups: [release-managers]}
      notify: {renotify_after: 30m, max_renotify: 2, escalate_after: 2h, escalate_to: [pd]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// openNotifying opens the store at dsn as a server would: the clock, and
// the outbox hook of a chat webhook and a PagerDuty sink.
func openNotifying(t *testing.T, dsn string, clock *testutil.Clock) (*sqlstore.DB, *reconcile.Reconciler) {
	t.Helper()
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Now = clock.Now
	enq := &notify.Enqueuer{Source: "shipgate/test", Sinks: []config.Sink{
		{Name: "chat", Type: config.SinkWebhook, URL: "https://chat.example.com/hook"},
		{Name: "pd", Type: config.SinkPagerDuty, URL: config.PagerDutyEventsURL, RoutingKey: "k"},
	}}
	db.Outbox = enq.Outbox
	return db, reconcile.NewReconciler(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// sent lists the person-needed notifications in the outbox as
// "sink:subject.predicate" (and the PagerDuty action and dedup key),
// oldest first.
func sent(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	var all []sqlstore.Notification
	if err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		all, err = tx.ListNotifications(ctx, "", 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(all) - 1; i >= 0; i-- {
		n := all[i]
		if !strings.HasPrefix(n.EventType, "dev.cdeventsx.shipgate-") {
			continue
		}
		s := n.Sink + ":" + strings.TrimSuffix(strings.TrimPrefix(n.EventType, "dev.cdeventsx.shipgate-"), ".0.1.0")
		if n.Sink == "pd" {
			for _, key := range []string{`"event_action":"trigger"`, `"event_action":"resolve"`} {
				if strings.Contains(n.Payload, key) {
					s += " " + strings.TrimSuffix(strings.TrimPrefix(key, `"event_action":"`), `"`)
				}
			}
			if i := strings.Index(n.Payload, `"dedup_key":"`); i >= 0 {
				s += " " + strings.SplitN(n.Payload[i+len(`"dedup_key":"`):], `"`, 2)[0]
			}
		}
		out = append(out, s)
	}
	return out
}

func runOnce(t *testing.T, rec *reconcile.Reconciler) time.Time {
	t.Helper()
	wake, err := rec.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return wake
}

// testAttentionApproval: a release waiting for approvals is re-notified
// every renotify_after, at most max_renotify times, and escalated after
// escalate_after; the timers are wake times of the reconcile loop, survive
// a restart, are not sent twice by two servers on one database, and the
// escalation's incident is resolved when the release is approved.
func testAttentionApproval(t *testing.T, engine string) {
	dsn := testutil.DSN(t, engine)
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	start := clock.Now()
	db, rec := openNotifying(t, dsn, clock)
	testutil.MustApply(t, db, attentionService)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	r, err := newRelease(db, "production", "2.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	key := "shipgate/release/" + itoa(r.ID) + "/approval"
	want := []string{"chat:approval.needed"}
	check := func(when string) {
		t.Helper()
		if got := sent(t, db); strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Fatalf("%s: sent\n  %s\nwant\n  %s", when, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	check("at creation")
	if wake := runOnce(t, rec); !wake.Equal(start.Add(30 * time.Minute)) {
		t.Fatalf("wake %v, want the first re-notification at %v", wake, start.Add(30*time.Minute))
	}
	clock.Add(30 * time.Minute)
	runOnce(t, rec)
	runOnce(t, rec) // nothing more is due
	want = append(want, "chat:approval.renotified")
	check("after 30m")

	// A restarted server continues the timers from the database.
	db.Close()
	db, rec = openNotifying(t, dsn, clock)
	if wake := runOnce(t, rec); !wake.Equal(start.Add(time.Hour)) {
		t.Fatalf("after a restart: wake %v, want %v", wake, start.Add(time.Hour))
	}
	check("after a restart")

	// Two servers on one database send the second reminder once.
	_, rec2 := openNotifying(t, dsn, clock)
	clock.Add(30 * time.Minute)
	var wg sync.WaitGroup
	for _, rc := range []*reconcile.Reconciler{rec, rec2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				rc.RunOnce(ctx) // a conflict is retried on the next pass
			}
		}()
	}
	wg.Wait()
	want = append(want, "chat:approval.renotified")
	check("two servers")

	// max_renotify is 2: the next thing due is the escalation, at 2h.
	if wake := runOnce(t, rec); !wake.Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("wake %v, want the escalation at %v", wake, start.Add(2*time.Hour))
	}
	clock.Add(time.Hour)
	runOnce(t, rec)
	want = append(want, "pd:approval.escalated trigger "+key)
	check("after 2h")
	if wake := runOnce(t, rec); !wake.IsZero() {
		t.Fatalf("nothing is due any more, but the loop wakes at %v", wake)
	}
	clock.Add(10 * time.Hour)
	runOnce(t, rec)
	check("10h later")

	// Approving ends the wait and resolves the incident.
	for _, u := range []*shipgate.User{alice, bob} {
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			if _, _, err := reconcile.Decide(ctx, tx, u, r.ID, shipgate.DecisionApprove, r.Digest, ""); err != nil {
				return err
			}
			_, _, err := reconcile.Release(ctx, tx, r.ID)
			return err
		})
	}
	// The reminded chat hears it is over; the escalation's incident is
	// resolved.
	want = append(want, "chat:approval.resolved", "pd:approval.resolved resolve "+key)
	check("after approval")
	if a := actionsOf(db, r.ID); strings.Count(a, "attention.reminded") != 2 || strings.Count(a, "attention.escalated") != 1 || strings.Count(a, "attention.resolved") != 1 {
		t.Fatalf("audit: %s", a)
	}
	verify(t, db)
}

// testAttentionPromote: a rollout paused for promote is re-notified with
// the command; promoting ends the wait, so nothing more is sent, and a
// release rejected while escalated resolves its incident.
func testAttentionPromote(t *testing.T, engine string) {
	dsn := testutil.DSN(t, engine)
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db, rec := openNotifying(t, dsn, clock)
	testutil.MustApply(t, db, attentionService)
	if _, err := newRelease(db, "staging", "2.0", "carol"); err != nil {
		t.Fatal(err)
	}
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: 24 * time.Hour, Work: &reconcile.Signal{}}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	id := a.Key.ReleaseID
	paused := canary(1, shipgate.RolloutPaused, 0, 10)
	paused.Paused = "manual pause after step 1"
	if _, err := d.Rollout(ctx, "r", a.Key, paused); err != nil {
		t.Fatal(err)
	}
	runOnce(t, rec)
	clock.Add(10 * time.Minute)
	runOnce(t, rec)
	got := sent(t, db)
	if strings.Join(got, ", ") != "chat:rollout.paused, chat:rollout.renotified" {
		t.Fatalf("sent %v", got)
	}
	var payload string
	db.View(ctx, func(tx *sqlstore.Tx) error {
		all, _ := tx.ListNotifications(ctx, "", 1)
		payload = all[0].Payload
		return nil
	})
	if !strings.Contains(payload, "shipgate promote "+itoa(id)) || !strings.Contains(payload, "reminder 1 of 3") {
		t.Fatalf("reminder %s", payload)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := reconcile.PromoteRollout(ctx, tx, "carol", id, ""); return err })
	if _, err := d.Rollout(ctx, "r", a.Key, canary(2, shipgate.RolloutProgressing, 1, 50)); err != nil {
		t.Fatal(err)
	}
	runOnce(t, rec)
	clock.Add(2 * time.Hour)
	runOnce(t, rec)
	// The chat that was reminded hears that the wait is over.
	if got := sent(t, db); strings.Join(got, ", ") != "chat:rollout.paused, chat:rollout.renotified, chat:rollout.resolved" {
		t.Fatalf("after promote: sent %v", got)
	}
	if a := actionsOf(db, id); !strings.Contains(a, "system:attention.resolved") {
		t.Fatalf("audit: %s", a)
	}

	// Escalated, then rejected: the incident is resolved.
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	r, _ := newRelease(db, "production", "3.0", "carol")
	clock.Add(2 * time.Hour)
	runOnce(t, rec)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, _, err := reconcile.Decide(ctx, tx, bob, r.ID, shipgate.DecisionReject, r.Digest, "not today")
		return err
	})
	runOnce(t, rec)
	got = sent(t, db)
	key := "shipgate/release/" + itoa(r.ID) + "/approval"
	joined := strings.Join(got, ", ")
	if n := len(got); !strings.Contains(joined, "pd:approval.escalated trigger "+key+", chat:approval.renotified, chat:release.rejected, ") || got[n-1] != "pd:approval.resolved resolve "+key {
		t.Fatalf("escalated then rejected: %v", got)
	}
	runOnce(t, rec)
	var ids []int64
	db.View(ctx, func(tx *sqlstore.Tx) error { ids, _ = tx.ActiveReleaseIDs(ctx); return nil })
	for _, x := range ids {
		if x == r.ID {
			t.Fatalf("rejected release %d still active: %v", r.ID, ids)
		}
	}
	verify(t, db)
}

// testNotifyIncidents: a resolve goes only to a sink with the incident
// open, once.
func testNotifyIncidents(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if ok, err := tx.ResolveIncident(ctx, "pd", "k"); ok || err != nil {
			t.Fatalf("resolve of an incident never opened: %v %v", ok, err)
		}
		if err := tx.OpenIncident(ctx, "pd", "k"); err != nil {
			return err
		}
		if ok, err := tx.ResolveIncident(ctx, "other", "k"); ok || err != nil {
			t.Fatalf("resolve on another sink: %v %v", ok, err)
		}
		if ok, err := tx.ResolveIncident(ctx, "pd", "k"); !ok || err != nil {
			t.Fatalf("resolve of an open incident: %v %v", ok, err)
		}
		if ok, _ := tx.ResolveIncident(ctx, "pd", "k"); ok {
			t.Fatal("resolved twice")
		}
		if err := tx.OpenIncident(ctx, "pd", "k"); err != nil { // triggered again
			return err
		}
		ok, err := tx.ResolveIncident(ctx, "pd", "k")
		if !ok {
			t.Fatal("a reopened incident is not resolvable")
		}
		return err
	})
}
