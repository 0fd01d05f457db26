package notify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/webhook"
)

// pathReceiver records each request's path, headers and body.
type pathReceiver struct {
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
}

type recorded struct {
	path string
	head http.Header
	body []byte
}

func newPathReceiver(t *testing.T) *pathReceiver {
	rc := &pathReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{r.URL.Path, r.Header.Clone(), b})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *pathReceiver) got(path string) []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []recorded
	for _, r := range rc.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func TestCheckpointsArePublished(t *testing.T) {
	rc := newPathReceiver(t)
	sinks := []config.Sink{
		{Name: "hook", Type: config.SinkWebhook, URL: rc.srv.URL + "/hook", Secrets: []string{"s3cret"}},
		{Name: "chat", Type: config.SinkSlack, URL: rc.srv.URL + "/slack"},
		{Name: "failures-only", Type: config.SinkWebhook, URL: rc.srv.URL + "/failures", Events: []string{"release.failed"}},
		{Name: "oncall", Type: config.SinkPagerDuty, URL: rc.srv.URL + "/oncall/v2/enqueue", RoutingKey: "R0UTING"},
		{Name: "changes", Type: config.SinkPagerDuty, URL: rc.srv.URL + "/changes/v2/enqueue", RoutingKey: "CH4NGE", Events: []string{"audit.checkpoint"}},
	}
	e := newEnv(t, sinks...)
	enq := &notify.Enqueuer{Sinks: sinks, Source: "shipgate/test"}
	e.db.CheckpointOutbox = enq.CheckpointOutbox
	seed := make([]byte, shipgate.AuditSigningKeySize)
	signer, _ := shipgate.NewAuditSigner(seed)
	keys := []shipgate.AuditPublicKey{signer.PublicKey()}
	cp, _, err := e.db.Checkpoint(ctx, signer)
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := e.db.Checkpoint(ctx, signer); again != cp {
		t.Fatal("an unmoved head was signed again")
	}
	e.drain(t)

	// Webhook: a CDEvent whose subject content is the checkpoint; the body as
	// archived is accepted by audit verify --checkpoint.
	hook := rc.got("/hook")
	if len(hook) != 1 || hook[0].head.Get("X-Shipgate-Event") != notify.CheckpointEventType || hook[0].head.Get("Content-Type") != "application/cloudevents+json" {
		t.Fatalf("webhook deliveries: %+v", hook)
	}
	if err := webhook.Verify(hook[0].head.Get("X-Shipgate-Signature"), hook[0].body, time.Now(), 5*time.Minute, "s3cret"); err != nil {
		t.Fatalf("webhook signature: %v", err)
	}
	got, err := shipgate.ParseAuditCheckpoints(bytes.NewReader(hook[0].body))
	if err != nil || len(got) != 1 || got[0] != cp || shipgate.VerifyCheckpoint(&got[0], keys) != nil {
		t.Fatalf("webhook body as a checkpoint file: %+v %v", got, err)
	}

	// Slack: a sentence and the checkpoint as one JSON line.
	slack := rc.got("/slack")
	if len(slack) != 1 {
		t.Fatalf("slack deliveries: %d", len(slack))
	}
	var msg struct{ Text string }
	json.Unmarshal(slack[0].body, &msg)
	line := msg.Text[strings.Index(msg.Text, "```")+3 : strings.LastIndex(msg.Text, "```")]
	if fromSlack, err := shipgate.ParseAuditCheckpoints(strings.NewReader(line)); err != nil || fromSlack[0] != cp || !strings.Contains(msg.Text, cp.Hash) {
		t.Fatalf("slack text %q: %v", msg.Text, err)
	}

	// A sink filtered to other events, and a PagerDuty sink that does not
	// name audit.checkpoint, get nothing.
	if n := len(rc.got("/failures")) + len(rc.got("/oncall/v2/enqueue")) + len(rc.got("/oncall/v2/change/enqueue")); n != 0 {
		t.Fatalf("%d checkpoint deliveries to sinks that did not ask", n)
	}
	// A PagerDuty sink that names it gets a Change Event, which opens no
	// incident, with the routing key added at delivery.
	change := rc.got("/changes/v2/change/enqueue")
	if len(change) != 1 {
		t.Fatalf("pagerduty change events: %d (all requests: %+v)", len(change), rc.reqs)
	}
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		Payload     struct {
			Summary       string
			CustomDetails struct{ Checkpoint shipgate.AuditCheckpoint } `json:"custom_details"`
		}
	}
	json.Unmarshal(change[0].body, &ev)
	if ev.RoutingKey != "CH4NGE" || ev.EventAction != "" || ev.Payload.CustomDetails.Checkpoint != cp || !strings.Contains(ev.Payload.Summary, "audit checkpoint") {
		t.Fatalf("change event %s", change[0].body)
	}
}
