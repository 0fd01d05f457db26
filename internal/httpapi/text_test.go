package httpapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

const textService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: prod
      approvals: {required: 1}
  pipeline:
    jobs:
      - name: deploy
        steps: [{name: deploy it, run: "true"}]
`

// Text that would reach a terminal, a chat message or an argv raw is
// refused where it enters, with a 400 that names the field and shows the
// offending character escaped, and nothing changes: no release, no
// approval, no token, no agent, no service revision, no audit event.
func TestUnprintableTextIsRefused(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(textService)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "web.tar")
	os.WriteFile(art, []byte("web"), 0o644)
	pending, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: "1.0", Artifact: art})
	if err != nil {
		t.Fatal(err)
	}
	join, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	webA, err := admin.CreateScopedAgentToken(ctx, client.CreateAgentTokenRequest{Name: "web-a", Scope: map[string]string{"role": "web", "zone": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	body := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	register := func(labels map[string]string) string {
		labels["role"], labels["zone"] = "web", "a"
		return body(client.RegisterAgentRequest{Name: "a1", Labels: labels})
	}
	before, _ := f.db.VerifyAudit(ctx)

	release := func(version, ref, commit string) string {
		b, _ := json.Marshal(client.CreateReleaseRequest{Service: "web", Environment: "prod", Version: version, Artifact: art, Ref: ref, Commit: commit})
		return string(b)
	}
	rel := fmt.Sprintf("/api/v1/releases/%d", pending.ID)
	withStep := strings.Replace(textService, "name: deploy it", `name: "deploy\e[2K\rok"`, 1)
	tests := []struct {
		name, token, path, body, msg string
	}{
		{"version with ESC", "carol", "/api/v1/releases", release("1.0\x1b[2K\rrelease 1 approved by alice", "", ""), `version "1.0\x1b[2K\rrelease 1 approved by alice" is not valid`},
		{"version with a newline", "carol", "/api/v1/releases", release("1.0\nrelease 1 approved", "", ""), `version "1.0\nrelease 1 approved" is not valid`},
		{"version pinging a channel", "carol", "/api/v1/releases", release("<!channel>", "", ""), `version "<!channel>" is not valid`},
		{"version like an option", "carol", "/api/v1/releases", release("--config=/etc/passwd", "", ""), "must start with a letter or digit"},
		{"version with spaces", "carol", "/api/v1/releases", release("1.0 final", "", ""), `(found " ")`},
		{"ref with OSC", "carol", "/api/v1/releases", release("1.1", "main\x1b]8;;https://evil\x07", ""), `ref contains the control character "\x1b"`},
		{"commit with bidi override", "carol", "/api/v1/releases", release("1.1", "", "abc\u202efed"), `commit contains the control character "\u202e"`},
		{"approve comment with ESC", "carol", rel + "/approve", body(client.DecisionRequest{Digest: pending.Digest, Comment: "lgtm\x1b[8m hidden"}), `comment contains the control character "\x1b"`},
		{"reject comment with CR", "carol", rel + "/reject", body(client.DecisionRequest{Digest: pending.Digest, Comment: "no\rrelease 1 approved"}), `comment contains the control character "\r"`},
		{"cancel reason with a newline", "carol", rel + "/cancel", body(client.CancelRequest{Reason: "stale\nrelease 1 approved"}), `reason contains the control character "\n"`},
		{"promote comment with ESC", "carol", rel + "/promote", body(client.PromoteRequest{Comment: "go\x1b[2J"}), `comment contains the control character "\x1b"`},
		{"token name with ESC", "admin", "/api/v1/tokens", body(client.CreateTokenRequest{User: "carol", Name: "ci\x1b[31m"}), `token name contains the control character "\x1b"`},
		{"agent token name with a newline", "admin", "/api/v1/agent-tokens", body(client.CreateAgentTokenRequest{Name: "hosts\nadmin"}), `token name contains the control character "\n"`},
		{"agent hostname with ESC", join.Secret, "/api/v1/agent/register", body(client.RegisterAgentRequest{Name: "a1", Hostname: "h\x1b[1A", Labels: map[string]string{}}), `agent hostname contains the control character "\x1b"`},
		{"agent version with bidi", join.Secret, "/api/v1/agent/register", body(client.RegisterAgentRequest{Name: "a1", Version: "1\u2066", Labels: map[string]string{}}), `agent version contains the control character "\u2066"`},
		{"agent label value with ESC", join.Secret, "/api/v1/agent/register", body(client.RegisterAgentRequest{Name: "a1", Labels: map[string]string{"role": "web\x1b[0m"}}), `label "role" has a value that is not valid`},
		// Characters that show as nothing: what a viewer reads is not
		// what is stored.
		{"ref with invisible characters", "carol", "/api/v1/releases", release("1.1", "refs/\u200bmain\u2060\ufeff\u00ad\u3164", ""), `ref contains the invisible character "\u200b"`},
		{"commit with tag characters", "carol", "/api/v1/releases", release("1.1", "", "abc\U000E0041\U000E0042"), `commit contains the invisible character "\udb40\udc41"`},
		{"approve comment with a word joiner", "carol", rel + "/approve", body(client.DecisionRequest{Digest: pending.Digest, Comment: "lg\u2060tm"}), `comment contains the invisible character "\u2060"`},
		{"agent label name with a zero-width space", webA.Secret, "/api/v1/agent/register", register(map[string]string{"shipgate\u200b.local": "true"}), `label name "shipgate\u200b.local" is not valid`},
		{"agent label name with a long s", webA.Secret, "/api/v1/agent/register", register(map[string]string{"\u017fhipgate.local": "true"}), `label name "ſhipgate.local" is not valid: use 1-63 ASCII letters`},
		{"agent label value with a soft hyphen", webA.Secret, "/api/v1/agent/register", register(map[string]string{"disk": "s\u00adsd"}), `label "disk" has a value that is not valid: the value contains the invisible character "\u00ad"`},
		{"step name with ESC", "admin", "/api/v1/services", body(client.ApplyRequest{Filename: "web.yaml", Source: withStep}), `a step name contains the control character "\x1b"`},
		{"file name with ESC", "admin", "/api/v1/services", body(client.ApplyRequest{Filename: "web\x1b[2K.yaml", Source: textService + "# changed\n"}), `filename contains the control character "\x1b"`},
		{"rollback to a version with markup", "carol", "/api/v1/rollbacks", body(client.RollbackRequest{Service: "web", Environment: "prod", ToVersion: "1.0<!channel>"}), `version "1.0<!channel>" is not valid`},
		{"rollback version like an option", "admin", "/api/v1/services", body(client.ApplyRequest{Filename: "web.yaml", Source: strings.Replace(textService, "approvals: {required: 1}", "approvals: {required: 1}\n      rollback: {enabled: true, mode: version, version: \"-x\"}", 1)}), "must start with a letter or digit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := f.tokens[tt.token]
			if token == "" {
				token = tt.token
			}
			status, out := f.raw(t, "POST", tt.path, token, []byte(tt.body))
			e, _ := out["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if status != 400 || errorCode(out) != "invalid" || !strings.Contains(msg, tt.msg) {
				t.Fatalf("status %d, body %v; want 400 invalid with %q", status, out, tt.msg)
			}
			if strings.ContainsAny(msg, "\x1b\r\n\u202e\u2066\u200b\u2060\u00ad\U000E0041") {
				t.Fatalf("the error message itself carries control characters: %q", msg)
			}
		})
	}
	if after, _ := f.db.VerifyAudit(ctx); after != before {
		t.Fatalf("refused requests wrote %d audit events", after-before)
	}
	v, err := f.client("carol").Release(ctx, pending.ID)
	if err != nil || v.State != shipgate.StatePendingApproval || len(v.Approvals) != 0 {
		t.Fatalf("the pending release changed: %+v, %v", v, err)
	}
	if rels, _ := f.client("carol").Releases(ctx, shipgate.ReleaseFilter{}); len(rels) != 1 {
		t.Fatalf("%d releases; want only the first", len(rels))
	}
	if agents, _ := admin.Agents(ctx); len(agents) != 0 {
		t.Fatalf("agents registered: %+v", agents)
	}
	if revs, _ := admin.ServiceRevisions(ctx, "web"); len(revs) != 1 {
		t.Fatalf("%d service revisions; want 1", len(revs))
	}
}
