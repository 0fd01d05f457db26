package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

var ctx = context.Background()

type fixture struct {
	db *sqlstore.DB
	h  *httpapi.Handler
	// api is h wrapped by the OpenAPI checker in tests (see checkedAPI).
	api    http.Handler
	srv    *httptest.Server
	tokens map[string]string
}

func newFixture(t testing.TB) *fixture {
	return newFixtureOn(t, "sqlite")
}

func newFixtureOn(t testing.TB, engine string) *fixture {
	t.Helper()
	db := testutil.NewStore(t, engine)
	box, _ := shipgate.NewSecretBox(make([]byte, shipgate.SecretKeySize))
	rec := reconcile.NewReconciler(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	store, err := artifactstore.Open(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	sources := &artifactstore.Sources{Roots: []string{os.TempDir()}, Deny: []string{filepath.Join(os.TempDir(), "shipgate-denied"), store.Dir()}}
	disp := &reconcile.Dispatcher{DB: db, Secrets: box, LeaseTTL: time.Minute, Work: rec.Changed, Reconciler: rec, Artifacts: store, ArtifactSources: sources}
	h := httpapi.NewHandler(&httpapi.Handler{DB: db, Reconciler: rec, Work: rec.Changed, Secrets: box, MaxBodyBytes: 256 << 10, Dispatcher: disp,
		Artifacts: httpapi.ArtifactHasher{Roots: sources.Roots, Deny: sources.Deny, Store: store},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { h.FlushRefusals(ctx) }) // before the store closes, as serve does
	f := &fixture{db: db, h: h, api: h, tokens: map[string]string{}}
	if t, ok := t.(*testing.T); ok { // benchmarks measure the server alone
		f.api = checkedAPI(t, h)
	}
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	for name, roles := range map[string][]shipgate.Role{
		"admin": {shipgate.RoleAdmin}, "viewer": {shipgate.RoleViewer}, "carol": {shipgate.RoleDeployer, shipgate.RoleApprover},
	} {
		testutil.MustUser(t, db, name, roles, "release-managers")
		secret := shipgate.NewTokenSecret()
		testutil.Update(t, db, func(tx *sqlstore.Tx) error { _, err := tx.CreateToken(ctx, "test", name, "", secret); return err })
		f.tokens[name] = secret
	}
	return f
}

// apiDoc is the served OpenAPI document, validated once.
var apiDoc = sync.OnceValues(func() (*testutil.OpenAPI, error) {
	return testutil.LoadOpenAPI(httpapi.OpenAPIDocument())
})

// checkedAPI wraps h so every exchange of the test is checked against the
// OpenAPI document; a mismatch fails t.
func checkedAPI(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	doc, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	return doc.Handler(t, h)
}

func (f *fixture) client(user string) *client.Client { return client.New(f.srv.URL, f.tokens[user]) }

func (f *fixture) raw(t *testing.T, method, path, token string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (f *fixture) lastEvent(t *testing.T) shipgate.AuditEvent {
	t.Helper()
	var last shipgate.AuditEvent
	f.db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		last = events[len(events)-1]
		return nil
	})
	return last
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestRefusalsAreAudited(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path, token string
		body                      string
		status                    int
		actor                     string
	}{
		{"no token", "GET", "/api/v1/releases", "", "", 401, "anonymous"},
		{"wrong token", "GET", "/api/v1/releases", "sgp_nottherighttoken", "", 401, "anonymous"},
		{"viewer applies", "POST", "/api/v1/services", f.tokens["viewer"], `{"source":"x"}`, 403, "viewer"},
		{"deployer creates users", "POST", "/api/v1/users", f.tokens["carol"], `{"name":"eve"}`, 403, "carol"},
		{"viewer reads users", "GET", "/api/v1/users", f.tokens["viewer"], "", 403, "viewer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := f.raw(t, tt.method, tt.path, tt.token, []byte(tt.body))
			if status != tt.status || errorCode(out) == "" {
				t.Fatalf("status %d body %v", status, out)
			}
			e := f.lastEvent(t)
			if e.Action != shipgate.ActionAccessDenied || e.Actor != tt.actor || !strings.Contains(string(e.Details), tt.path) {
				t.Fatalf("refusal not audited: %+v %s", e, e.Details)
			}
		})
	}
	if n, err := f.db.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatal(n, err)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	f := newFixture(t)
	admin := f.tokens["admin"]
	before, _ := f.db.VerifyAudit(ctx)
	big := `{"source":"` + strings.Repeat("a", 300<<10) + `"}`
	tests := []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"oversized body", "/api/v1/services", big, 413, "too_large", "larger than the limit"},
		{"unknown field", "/api/v1/services", `{"source":"x","sauce":1}`, 400, "invalid", "unknown field"},
		{"not JSON", "/api/v1/services", `{"source":`, 400, "invalid", "not valid JSON"},
		{"malformed service file", "/api/v1/services", `{"filename":"svc.yaml","source":"apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: x}\nspec:\n  environmets: []\n"}`, 400, "invalid", `svc.yaml:5: unknown key "environmets"`},
		{"release of unknown service", "/api/v1/releases", `{"service":"nope","environment":"e","version":"1","artifact":"/etc/hostname"}`, 404, "not_found", `service "nope" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := f.raw(t, "POST", tt.path, admin, []byte(tt.body))
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if status != tt.status || errorCode(out) != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("status %d body %v", status, out)
			}
		})
	}
	if after, _ := f.db.VerifyAudit(ctx); after != before {
		t.Fatalf("bad requests wrote %d audit events", after-before)
	}
	svcs, _ := f.client("admin").Services(ctx)
	if len(svcs) != 0 {
		t.Fatalf("services after bad requests: %v", svcs)
	}
}

func TestReleaseArtifactChecks(t *testing.T) {
	f := newFixture(t)
	c := f.client("carol")
	if _, err := f.client("admin").Apply(ctx, "svc.yaml", []byte(testutil.ServiceYAML)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("abc"), 0o644)
	sha := shipgate.SHA256Hex([]byte("abc"))
	_, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art, SHA256: strings.Repeat("0", 64)})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("sha mismatch: %v", err)
	}
	_, err = c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: "a.tar"})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "must be absolute") {
		t.Fatalf("relative path: %v", err)
	}
	for _, forbidden := range []string{"/etc/passwd", filepath.Join(os.TempDir(), "shipgate-denied", "secret.key")} {
		os.MkdirAll(filepath.Dir(forbidden), 0o755)
		if _, err := os.Stat(forbidden); err != nil {
			os.WriteFile(forbidden, []byte("k"), 0o600)
		}
		_, err = c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: forbidden})
		if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
			t.Fatalf("artifact %s: %v", forbidden, err)
		}
	}
	// A symlink inside a root to a file outside it does not get around it.
	link := filepath.Join(t.TempDir(), "link.tar")
	os.Symlink("/etc/passwd", link)
	if _, err = c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: link}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("symlink out of the root: %v", err)
	}
	// Nor may a URL reach a link-local address (cloud metadata): the
	// egress policy refuses it, and the refusal is a 403.
	if _, err = c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: "http://169.254.169.254/latest/meta-data/"}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "egress policy") {
		t.Fatalf("metadata URL: %v", err)
	}
	_, err = c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art, Inputs: map[string]string{"bad-name": "x"}})
	if shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("bad input name: %v", err)
	}
	if rels, _ := c.Releases(ctx, shipgate.ReleaseFilter{}); len(rels) != 0 {
		t.Fatalf("refused creates left releases: %v", rels)
	}
	v, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art, SHA256: sha,
		SecretInputs: map[string]string{"token": "s3cr3t-value"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Artifact.SHA256 != sha || v.Artifact.Size != 3 {
		t.Fatalf("artifact = %+v", v.Artifact)
	}
	// The secret never comes back, in any response.
	for _, path := range []string{"/api/v1/releases/1", "/api/v1/releases", "/api/v1/audit"} {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["carol"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte("s3cr3t-value")) {
			t.Fatalf("%s returns the secret input", path)
		}
	}
	// Nor is it stored in the clear.
	var sealed []byte
	f.db.View(ctx, func(tx *sqlstore.Tx) error {
		m, _ := tx.ReleaseSecrets(ctx, v.ID)
		sealed = m["token"]
		return nil
	})
	if len(sealed) == 0 || bytes.Contains(sealed, []byte("s3cr3t-value")) {
		t.Fatalf("secret stored as %q", sealed)
	}
}

// Every route is in the OpenAPI document and every documented operation is
// a route (or /healthz); every operation has a unique camelCase operationId;
// every reference resolves. kin-openapi validates the document as OAS 3.0.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	raw, err := f.client("viewer").OpenAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testutil.LoadOpenAPI(raw); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi version %q, want 3.0.x", doc.OpenAPI)
	}
	routes := map[string]bool{"get /healthz": true}
	for _, rt := range f.h.Routes() {
		key := strings.ToLower(rt.Method) + " " + rt.Path
		routes[key] = true
		if _, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s %s is not documented", rt.Method, rt.Path)
		}
	}
	ids := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if !routes[method+" "+path] {
				t.Errorf("documented %s %s is not a route", method, path)
			}
			id := op.OperationID
			switch {
			case id == "":
				t.Errorf("%s %s has no operationId", method, path)
			case !camelCase.MatchString(id):
				t.Errorf("%s %s: operationId %q is not camelCase", method, path, id)
			case ids[id] != "":
				t.Errorf("%s %s: operationId %q is also %s", method, path, id, ids[id])
			}
			ids[id] = method + " " + path
		}
	}
	for _, ref := range findRefs(raw) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
			t.Errorf("dangling reference %s", ref)
		}
	}
}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

func findRefs(raw []byte) []string {
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, v := range x {
				if s, ok := v.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	var v any
	json.Unmarshal(raw, &v)
	walk(v)
	return refs
}

func TestHealthzNeedsNoToken(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	status, out := f.raw(t, "GET", "/api/v1/nothing-here", f.tokens["viewer"], nil)
	if status != 404 || errorCode(out) != "not_found" {
		t.Fatalf("unknown route: %d %v", status, out)
	}
}

func TestAnonymousRefusalsAreBounded(t *testing.T) {
	f := newFixture(t)
	before, _ := f.db.VerifyAudit(ctx)
	long := "/api/v1/" + strings.Repeat("x", 5000)
	for i := 0; i < 200; i++ {
		if status, _ := f.raw(t, "GET", long, "sgp_wrong", nil); status != 401 {
			t.Fatalf("status %d", status)
		}
	}
	after, _ := f.db.VerifyAudit(ctx)
	if after-before != 1 {
		t.Fatalf("200 anonymous refusals wrote %d events at once, want 1 (the rest are counted)", after-before)
	}
	if e := f.lastEvent(t); len(e.Details) > 1000 {
		t.Fatalf("refusal event stores the whole path: %d bytes", len(e.Details))
	}
	if err := f.h.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	if e := f.lastEvent(t); !strings.Contains(string(e.Details), `"count":199`) || len(e.Details) > 1000 {
		t.Fatalf("aggregate event: %s", e.Details)
	}
}

func TestTextThatNoDatabaseStores(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/releases/%FF/approve", `{"digest":"x"}`},
		{"GET", "/api/v1/services/%00", ""},
		{"GET", "/api/v1/releases?service=%FF", ""},
		{"POST", "/api/v1/users", `{"name":"a\u0000b"}`},
	} {
		status, out := f.raw(t, c.method, c.path, f.tokens["admin"], []byte(c.body))
		if status != 400 || errorCode(out) != "invalid" {
			t.Errorf("%s %s: %d %v", c.method, c.path, status, out)
		}
	}
}

func TestApplyRollbackVersionNeverReleased(t *testing.T) {
	f := newFixture(t)
	src := `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments:
    - name: prod
      rollback:
        enabled: true
        mode: version
        version: "0.1"
  pipeline:
    jobs:
      - {name: deploy, steps: [{run: "true"}]}
`
	_, err := f.client("admin").Apply(ctx, "web.yaml", []byte(src))
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `web.yaml:10: rollback version "0.1" of prod: service "web" has never released that version`) {
		t.Fatalf("apply: %v", err)
	}
	if svcs, _ := f.client("admin").Services(ctx); len(svcs) != 0 {
		t.Fatal("the file was applied")
	}
}

// A refusal by role says which roles do not grant the permission and which
// do (whom to ask), in grammar that fits one role or several.
func TestRefusalNamesTheRoles(t *testing.T) {
	f := newFixture(t)
	_, err := f.client("viewer").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: "/x"})
	if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), `it needs the "release.create" permission, which role viewer does not grant; roles deployer, admin grant it`) {
		t.Fatalf("viewer creating a release: %v", err)
	}
	_, err = f.client("carol").Users(ctx)
	if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "which roles approver, deployer do not grant") {
		t.Fatalf("carol listing users: %v", err)
	}
}
