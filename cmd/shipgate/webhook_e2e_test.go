package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
	"github.com/shipgate/shipgate/webhook"
)

// The server's webhook deliveries as a receiver sees them: public_url in
// the release link, a source that is a URI reference, the CloudEvents
// subject equal to the CDEvent's, and a signature per secret of
// secrets_env that the importable webhook package verifies with either.
func TestWebhookDeliveryWithRotatedSecretAndPublicURL(t *testing.T) {
	var mu sync.Mutex
	type delivery struct {
		body []byte
		head http.Header
	}
	var got []delivery
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{b, r.Header.Clone()})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	host := strings.TrimPrefix(rc.URL, "http://")
	cfg := fmt.Sprintf(`public_url: https://shipgate.example.com/ops/
egress:
  allow: ["%s"]
notifications:
  sinks:
    - name: hook
      type: webhook
      url: %s/hook
      secrets_env: [HOOK_SECRET_NEW, HOOK_SECRET_OLD]
      events: [release.started]
`, host, rc.URL)
	s := &server{t: t, dir: t.TempDir(), tokens: map[string]string{}, workDir: t.TempDir(),
		env: []string{"HOOK_SECRET_NEW=n3w-secret", "HOOK_SECRET_OLD=0ld-secret"}, args: []string{"--config", "server.yaml"}}
	os.WriteFile(filepath.Join(s.workDir, "server.yaml"), []byte(cfg), 0o600)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("server stderr:\n%s", s.stderr.String())
			s.mu.Unlock()
		}
	})
	s.start()
	s.tokens["admin"] = s.admin

	svc := filepath.Join(s.workDir, "shipgate.yaml")
	os.WriteFile(svc, []byte("apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: shop}\nspec:\n  environments:\n    - name: staging\n  pipeline:\n    jobs:\n      - name: deploy\n        steps: [{run: \"true\"}]\n"), 0o644)
	s.ok("admin", "apply", "-f", svc)
	os.WriteFile(filepath.Join(s.workDir, "shop.tar"), []byte("shop build"), 0o644)
	r := s.create("admin", "shop", "--env", "staging", "--version", "1.0+b7", "--artifact", "shop.tar")

	testutil.WaitFor(t, "the release.started delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	d := got[0]
	mu.Unlock()
	sig := d.head.Get(webhook.Header)
	if strings.Count(sig, "v1=") != 2 {
		t.Fatalf("signature header %q: want one v1 per secret", sig)
	}
	for _, secret := range []string{"n3w-secret", "0ld-secret"} {
		if err := webhook.Verify(sig, d.body, time.Now(), webhook.DefaultTolerance, secret); err != nil {
			t.Errorf("a receiver holding %s: %v", secret, err)
		}
	}
	var ce struct {
		Type, Source, Subject string
		Data                  struct {
			Subject struct {
				ID      string
				Content struct{ URL string }
			}
		}
	}
	if err := json.Unmarshal(d.body, &ce); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("https://shipgate.example.com/ops/api/v1/releases/%d", r.ID)
	if ce.Type != "dev.cdevents.pipelinerun.started.0.2.0" || ce.Data.Subject.Content.URL != want ||
		ce.Subject != ce.Data.Subject.ID || ce.Subject != fmt.Sprintf("release/%d/run/1", r.ID) ||
		!strings.HasPrefix(ce.Source, "shipgate/") || strings.ContainsAny(ce.Source, " ?#") {
		t.Fatalf("delivery: %s", d.body)
	}
}
