package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/egress"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/webhook"
)

// Worker delivers the outbox.
type Worker struct {
	DB             *sqlstore.DB
	Sinks          []config.Sink
	MaxAttempts    int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Client sends the deliveries; the server builds it from its egress
	// policy. nil means the default policy: internal destinations refused.
	Client *http.Client
	Logger *slog.Logger
	// Attempted, if set, hears of each delivery attempt: to which sink,
	// whether it was delivered and, when not, whether it was the last
	// (for the server's metrics).
	Attempted func(sink string, delivered, final bool)

	mu   sync.Mutex
	kick chan struct{}
}

// Kick asks for a delivery pass soon (after a commit that queued some).
func (w *Worker) Kick() {
	w.mu.Lock()
	if w.kick == nil {
		w.kick = make(chan struct{}, 1)
	}
	k := w.kick
	w.mu.Unlock()
	select {
	case k <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.Kick()
	w.mu.Lock()
	k := w.kick
	w.mu.Unlock()
	for {
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.Logger.Warn("notification pass failed", "err", err)
		}
		if n > 0 {
			continue // there may be more due
		}
		select {
		case <-ctx.Done():
			return
		case <-k:
		case <-time.After(time.Second):
		}
	}
}

// RunOnce delivers the notifications due now and returns how many it tried.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	due, err := w.DB.ClaimNotifications(ctx, 20, 2*time.Minute)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, n := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.deliver(ctx, n)
		}()
	}
	wg.Wait()
	return len(due), nil
}

func (w *Worker) sink(name string) (config.Sink, bool) {
	for _, s := range w.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return config.Sink{}, false
}

func (w *Worker) deliver(ctx context.Context, n sqlstore.Notification) {
	s, ok := w.sink(n.Sink)
	var err error
	if !ok {
		err = fmt.Errorf("sink %q is no longer configured", n.Sink)
	} else {
		err = w.send(ctx, s, n)
	}
	ctx = context.WithoutCancel(ctx)
	if err == nil {
		if w.Attempted != nil {
			w.Attempted(n.Sink, true, false)
		}
		if err := w.DB.NotificationDelivered(ctx, n.ID); err != nil {
			w.Logger.Warn("record delivery", "err", err)
		}
		return
	}
	attempts := n.Attempts + 1
	final := !ok || attempts >= w.MaxAttempts
	backoff := w.InitialBackoff << min(attempts-1, 20)
	if backoff > w.MaxBackoff || backoff <= 0 {
		backoff = w.MaxBackoff
	}
	if w.Attempted != nil {
		w.Attempted(n.Sink, false, final)
	}
	w.Logger.Warn("notification not delivered", "sink", n.Sink, "id", n.ID, "attempt", attempts, "final", final, "err", err)
	if err := w.DB.NotificationFailed(ctx, n.ID, err.Error(), time.Now().Add(backoff), final); err != nil {
		w.Logger.Warn("record failed delivery", "err", err)
	}
}

func (w *Worker) send(ctx context.Context, s config.Sink, n sqlstore.Notification) error {
	body := []byte(n.Payload)
	contentType := "application/json"
	target := s.URL
	headers := map[string]string{"X-Shipgate-Delivery": strconv.FormatInt(n.ID, 10), "X-Shipgate-Event": n.EventType}
	switch s.Type {
	case config.SinkWebhook:
		contentType = "application/cloudevents+json"
		if len(s.Secrets) > 0 {
			// One v1= per secret: receivers on the old or the new secret
			// both verify while it is rotated.
			// The config allows at most webhook.MaxSecrets.
			sig, err := webhook.Sign(time.Now(), body, s.Secrets...)
			if err != nil {
				return err
			}
			headers[webhook.Header] = sig
		}
	case config.SinkPagerDuty:
		if n.EventType == CheckpointEventType {
			var err error
			if body, err = pagerDutyChangeBody(body, s.RoutingKey); err != nil {
				return err
			}
			target = pagerDutyChangeURL(s.URL)
			break
		}
		var ev pagerDutyEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return err
		}
		ev.RoutingKey = s.RoutingKey
		var err error
		if body, err = json.Marshal(ev); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "shipgate-notify")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := w.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL may itself be the secret (Slack webhooks): never let it
		// into the error that is stored and shown.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return fmt.Errorf("%s to sink %s: %v", uerr.Op, s.Name, uerr.Err)
		}
		return fmt.Errorf("sink %s: %v", s.Name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, s.Name, strings.TrimSpace(string(msg)))
	}
	return nil
}

// defaultClient delivers for a Worker built without a client.
var defaultClient = (&egress.Policy{}).Client(0)
