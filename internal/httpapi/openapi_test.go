package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// recordingTB keeps what the OpenAPI checker reports instead of failing.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// The checker every API test runs through does catch drift: a field the
// document does not know, a wrong type, a missing required field, a status
// the operation does not document, and an error body of the wrong shape,
// each named with the schema path that refused it.
func TestOpenAPICheckerCatchesDrift(t *testing.T) {
	doc, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		body                      string
		want                      []string
	}{
		{"extra field", "GET", "/api/v1/whoami", "x", 200, `{"name":"a","roles":[],"groups":[],"nickname":"b"}`,
			[]string{"GET /api/v1/whoami → 200", "getWhoami", `property "nickname" is unsupported`, "#/components/schemas/User"}},
		{"renamed field", "GET", "/api/v1/whoami", "x", 200, `{"username":"a","roles":[],"groups":[]}`,
			[]string{`property "name" is missing`, "#/components/schemas/User"}},
		{"wrong type", "GET", "/api/v1/releases", "x", 200, `[{"id":"7","service":"web","environment":"e","version":"1","digest":"d","state":"queued","run":1,"kind":"deploy","created_by":"a","created_at":"2024-01-01T00:00:00Z","service_revision":1,"generation":1,"updated_at":"2024-01-01T00:00:00Z"}]`,
			[]string{"at /0/id", "#/components/schemas/Release/properties/id", `"type"`}},
		{"null array", "POST", "/api/v1/users", "x", 201, `{"name":"a","roles":["viewer"],"groups":null}`,
			[]string{"at /groups", "#/components/schemas/User/properties/groups", "not nullable"}},
		{"undocumented status", "GET", "/api/v1/whoami", "x", 418, `{"error":{"code":"internal","message":"x"}}`,
			[]string{"→ 418", "status is not supported"}},
		{"bad error body", "GET", "/api/v1/services/web", "x", 404, `{"message":"no"}`,
			[]string{`property "error" is missing`, "#/components/schemas/Error"}},
		{"bad error on an unknown route", "GET", "/api/v1/nothing", "x", 404, `{"error":{"code":"gone","message":"x"}}`,
			[]string{"at /error/code", "#/components/schemas/Error/properties/error/properties/code", `"enum"`}},
		{"success without a token", "GET", "/api/v1/whoami", "", 200, `{"name":"a","roles":[],"groups":[]}`,
			[]string{"the request does not match the document, yet the server answered 200", "no bearer token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			body := tc.body
			h := doc.Handler(rec, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(body))
			}))
			srv := httptest.NewServer(h)
			defer srv.Close()
			var reqBody []byte
			if tc.method == "POST" {
				reqBody = []byte(`{"name":"a","roles":["viewer"]}`)
			}
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, bytes.NewReader(reqBody))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			srv.Close() // the check has run once every handler returned
			got := rec.reported()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the checker reported\n%s\nwhich does not contain %q", got, w)
				}
			}
		})
	}
	// A response that matches is not reported.
	rec := &recordingTB{TB: t}
	srv := httptest.NewServer(doc.Handler(rec, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"name":"a","roles":["viewer"],"groups":[],"created_at":"2024-01-01T00:00:00Z"}`))
	})))
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	if got := rec.reported(); got != "" {
		t.Fatalf("a matching exchange was reported: %s", got)
	}
}

// A user created without groups is answered with "groups": [], as the
// document promises, not null.
func TestCreatedUserHasGroupsArray(t *testing.T) {
	f := newFixture(t)
	status, out := f.raw(t, "POST", "/api/v1/users", f.tokens["admin"], []byte(`{"name":"dave","roles":["viewer"]}`))
	if status != 201 {
		t.Fatalf("status %d: %v", status, out)
	}
	if g, ok := out["groups"].([]any); !ok || len(g) != 0 {
		t.Fatalf("groups = %#v, want []", out["groups"])
	}
}

// The list of revisions is a summary: no empty spec per item. One revision
// carries its spec and source.
func TestRevisionListIsASummary(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "web.yaml", []byte(agentService)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/services/web/revisions", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	for _, k := range []string{"spec", "source"} {
		if v, ok := list[0][k]; ok {
			t.Errorf("list item carries %s = %v", k, v)
		}
	}
	rev, err := admin.ServiceRevision(ctx, "web", 1)
	if err != nil || rev.Source == "" || len(rev.Spec.Pipeline.Jobs) != 1 {
		t.Fatalf("one revision: %+v %v", rev, err)
	}
}

// A release nobody approved yet shows "approvers": [] in its tally.
func TestTallyApproversIsAnArray(t *testing.T) {
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "svc.yaml", []byte(strings.Replace(agentService, "[{name: staging}]", "[{name: staging, approvals: {required: 1}}]", 1))); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("artifact"), 0o644)
	status, out := f.raw(t, "POST", "/api/v1/releases", f.tokens["carol"], []byte(mustJSON(client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art})))
	if status != 201 {
		t.Fatalf("status %d: %v", status, out)
	}
	tally, _ := out["tally"].(map[string]any)
	if a, ok := tally["approvers"].([]any); !ok || len(a) != 0 {
		t.Fatalf("tally = %#v, want approvers []", out["tally"])
	}
}

// An agent that finds no work gets "assignment": null, which the document
// describes (a $ref with a sibling nullable is ignored in OAS 3.0).
func TestIdleClaimIsDocumented(t *testing.T) {
	f, token, _ := agentFixture(t)
	reg, err := register(t, f, token, "db-1", map[string]string{"role": "db"})
	if err != nil {
		t.Fatal(err)
	}
	_, ok, err := client.NewAgent(f.srv.URL, reg.Secret).Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Millisecond})
	if err != nil || ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
}

// Every operation that takes a body answers a body over the limit with a
// 413 the document describes.
func TestTooLargeBodiesAreDocumented(t *testing.T) {
	f, token, _ := agentFixture(t)
	reg, err := register(t, f, token, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := f.client("viewer").OpenAPI(ctx)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody json.RawMessage `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	big := []byte(`{"x":"` + strings.Repeat("a", 300<<10) + `"}`)
	f.h.EvidenceMaxBytes = 256 << 10 // evidence uploads have their own, larger bound
	n := 0
	for _, rt := range f.h.Routes() {
		if doc.Paths[rt.Path][strings.ToLower(rt.Method)].RequestBody == nil {
			continue
		}
		n++
		tok := f.tokens["admin"]
		switch rt.Perm {
		case shipgate.PermAgent:
			tok = reg.Secret
		case shipgate.PermAgentJoin:
			tok = token
		case shipgate.PermApprove:
			tok = f.tokens["carol"]
		}
		path := strings.NewReplacer("{id}", "1", "{name}", "carol", "{user}", "carol").Replace(rt.Path)
		if status, out := f.raw(t, rt.Method, path, tok, big); status != 413 || errorCode(out) != "too_large" {
			t.Errorf("%s %s with %d bytes: %d %v", rt.Method, rt.Path, len(big), status, out)
		}
	}
	if n < 20 {
		t.Fatalf("only %d operations take a body", n)
	}
}

// ?state= of the release list takes release states only: anything else is
// refused with the allowed values, not answered with an empty list.
func TestReleaseStateFilterIsChecked(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"state=bogus", "state=queued,runing", "state="} {
		status, out := f.raw(t, "GET", "/api/v1/releases?"+q, f.tokens["viewer"], nil)
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if status != 400 || errorCode(out) != "invalid" || !strings.Contains(msg, "pending_approval, queued, running, succeeded, failed, rejected, cancelled, rolled_back") {
			t.Errorf("%s: %d %v", q, status, out)
		}
	}
	if status, out := f.raw(t, "GET", "/api/v1/releases?state=queued,running&state=failed", f.tokens["viewer"], nil); status != 200 {
		t.Fatalf("good states: %d %v", status, out)
	}
}

// A single-valued query parameter given twice is refused, not read once
// with the other value ignored (state=pending&state=bogus answered 200).
func TestRepeatedQueryParametersAreRefused(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{
		"/api/v1/notifications?state=pending&state=bogus",
		"/api/v1/notifications?limit=1&limit=2",
		"/api/v1/releases?service=a&service=b",
		"/api/v1/audit?limit=5&limit=6",
	} {
		status, out := f.raw(t, "GET", path, f.tokens["admin"], nil)
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if status != 400 || !strings.Contains(msg, "times; give it once") {
			t.Errorf("%s: %d %v", path, status, out)
		}
	}
}

// Every JSON field of the types the API answers with is a property of the
// schema that describes it, and the other way round: a field added to a Go
// type without documenting it (or a schema property the server never
// sends) fails here even when no test happens to make the server send it.
func TestSchemasMatchGoTypes(t *testing.T) {
	raw := httpapi.OpenAPIDocument()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
				Required   []string                   `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, v := range map[string]any{
		"Release":         shipgate.Release{},
		"ReleaseView":     client.ReleaseView{},
		"User":            shipgate.User{},
		"Approval":        shipgate.Approval{},
		"ApprovalTally":   shipgate.ApprovalTally{},
		"JobRun":          shipgate.JobRun{},
		"AuditEvent":      shipgate.AuditEvent{},
		"Service":         shipgate.Service{},
		"ServiceRevision": shipgate.ServiceRevision{},
		"Token":           shipgate.Token{},
		"Group":           shipgate.Group{},
		"Agent":           shipgate.Agent{},
		"AgentToken":      shipgate.AgentToken{},
		"AgentFlags":      client.AgentFlags{},
		"Rollback":        shipgate.Rollback{},
		"Assignment":      shipgate.Assignment{},
		"AttemptKey":      shipgate.AttemptKey{},
		"HeldAttempt":     shipgate.HeldAttempt{},
		"ClaimResponse":   client.ClaimResponse{},
		"Logs":            client.Logs{},
		"LogChunk":        shipgate.LogChunk{},
		"AuditPage":       client.AuditPage{},
		"Notification":    sqlstore.Notification{},
		"StoredArtifact":  shipgate.StoredArtifact{},
		"HeartbeatReply":  shipgate.HeartbeatReply{},
	} {
		s, ok := doc.Components.Schemas[schema]
		if !ok {
			t.Errorf("no schema %s", schema)
			continue
		}
		fields, always := jsonFields(reflect.TypeOf(v))
		for _, name := range fields {
			if _, ok := s.Properties[name]; !ok {
				t.Errorf("%T has field %q that #/components/schemas/%s does not describe", v, name, schema)
			}
		}
		for _, name := range always {
			if !slices.Contains(s.Required, name) {
				t.Errorf("%T always sends %q, which #/components/schemas/%s does not list as required", v, name, schema)
			}
		}
		for name := range s.Properties {
			if !slices.Contains(fields, name) {
				t.Errorf("#/components/schemas/%s describes %q, which %T does not have", schema, name, v)
			}
		}
	}
}

// jsonFields lists the names encoding/json gives the fields of struct type
// t, with embedded structs' fields promoted, and those it always writes
// (no omitempty or omitzero).
func jsonFields(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				a, w := jsonFields(ft)
				all, always = append(all, a...), append(always, w...)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !strings.Contains(tag, ",omitempty") && !strings.Contains(tag, ",omitzero") {
			always = append(always, name)
		}
	}
	return all, always
}
