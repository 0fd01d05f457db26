package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/egress"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// A sink on loopback is refused unless the egress policy lists it: by the
// worker's default client, and by a client of a policy that lists
// something else. Listed, it is delivered to (newEnv lists every sink of
// the other tests the same way).
func TestSinkOnLoopbackNeedsEgressAllow(t *testing.T) {
	other, err := egress.ParseRule("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for name, client := range map[string]func(e *env){
		"default client":    func(e *env) { e.worker.Client = nil },
		"another is listed": func(e *env) { e.worker.Client = (&egress.Policy{Allow: []egress.Rule{other}}).Client(time.Second) },
	} {
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t)
			e := newEnv(t, config.Sink{Name: "hook", Type: config.SinkWebhook, URL: rc.srv.URL, Events: []string{"release.succeeded"}})
			client(e)
			e.worker.MaxAttempts = 1
			e.deploy(t, "1.0", false)
			e.drain(t)
			var failed []sqlstore.Notification
			e.db.View(ctx, func(tx *sqlstore.Tx) error {
				failed, _ = tx.ListNotifications(ctx, sqlstore.NotifyFailed, 10)
				return nil
			})
			if len(failed) != 1 || !strings.Contains(failed[0].LastError, "egress policy") || !strings.Contains(failed[0].LastError, "sink hook") {
				t.Fatalf("failed deliveries %+v", failed)
			}
			if bodies, _ := rc.got(); len(bodies) != 0 {
				t.Fatalf("a refused sink received %d requests", len(bodies))
			}
		})
	}
}
