package ofrep_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/ofrep"
)

// store is a Loader over flags held in memory, counting its reads.
type store struct {
	mu    sync.Mutex
	gen   map[string]int64
	flags map[string][]shipgate.FlagState
	gens  int // FlagGeneration calls
	loads int // EnvFlags calls
}

func (s *store) FlagGeneration(_ context.Context, env string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gens++
	return s.gen[env], nil
}

func (s *store) EnvFlags(_ context.Context, env string) ([]shipgate.FlagState, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return append([]shipgate.FlagState(nil), s.flags[env]...), s.gen[env], nil
}

func (s *store) set(env string, states ...shipgate.FlagState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flags[env] = states
	s.gen[env]++
}

type keys map[string]string // secret → env

func (k keys) Authenticate(_ context.Context, secret string) (string, error) {
	if env, ok := k[secret]; ok {
		return env, nil
	}
	return "", shipgate.Errorf(shipgate.EUNAUTHORIZED, "bad key")
}

func boolFlag(service, key string, disabled bool) shipgate.FlagState {
	return shipgate.FlagState{Service: service, Environment: "prod", Flag: shipgate.Flag{
		Key: key, Type: shipgate.FlagBoolean, Variants: map[string]any{"on": true, "off": false},
		DefaultVariant: "on", SafeVariant: "off", Disabled: disabled,
		Rules: []shipgate.FlagRule{{When: []shipgate.FlagCondition{{Attribute: "country", Op: shipgate.OpEquals, Value: "NZ"}}, Variant: "off"}},
	}}
}

func rolloutFlag(service, key string) shipgate.FlagState {
	return shipgate.FlagState{Service: service, Environment: "prod", Flag: shipgate.Flag{
		Key: key, Type: shipgate.FlagString, Variants: map[string]any{"a": "A", "b": "B"},
		DefaultVariant: "a", SafeVariant: "a",
		Rollout: &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "a", Percent: 50}, {Variant: "b", Percent: 50}}},
	}}
}

func newServer(t *testing.T) (*store, *httptest.Server, *uint64) {
	t.Helper()
	st := &store{gen: map[string]int64{}, flags: map[string][]shipgate.FlagState{}}
	st.set("prod", boolFlag("web", "new-checkout", false), rolloutFlag("web", "banner"), rolloutFlag("api", "banner"), rolloutFlag("api", "colour"))
	st.set("staging", boolFlag("web", "staging-only", false))
	var epoch uint64
	var mu sync.Mutex
	cache := &ofrep.Cache{Loader: st, MaxAge: time.Hour, Changed: func() uint64 { mu.Lock(); defer mu.Unlock(); return epoch }}
	h := ofrep.New(&ofrep.Handler{Source: cache, Auth: keys{"sgf_prod": "prod", "sgf_staging": "staging"}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, srv, &epoch
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t *testing.T, srv *httptest.Server, path, key, body string, hdr ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: sb.String()}
	if r.raw != "" {
		if err := json.Unmarshal([]byte(r.raw), &r.body); err != nil {
			t.Fatalf("%s: answer is not JSON: %q", path, r.raw)
		}
	}
	return r
}

func TestEvaluate(t *testing.T) {
	_, srv, _ := newServer(t)
	const one = "/ofrep/v1/evaluate/flags/"
	for _, tc := range []struct {
		name, key, flag, body string
		status                int
		want                  map[string]any
	}{
		{"default", "sgf_prod", "new-checkout", `{"context":{"targetingKey":"u1"}}`, 200,
			map[string]any{"key": "new-checkout", "value": true, "variant": "on", "reason": "DEFAULT"}},
		{"rule", "sgf_prod", "new-checkout", `{"context":{"targetingKey":"u1","country":"NZ"}}`, 200,
			map[string]any{"value": false, "variant": "off", "reason": "TARGETING_MATCH"}},
		{"qualified", "sgf_prod", "web/new-checkout", `{"context":{}}`, 200,
			map[string]any{"key": "web/new-checkout", "value": true}},
		{"unique plain key", "sgf_prod", "colour", `{"context":{"targetingKey":"u1"}}`, 200,
			map[string]any{"reason": "SPLIT"}},
		{"ambiguous", "sgf_prod", "banner", `{"context":{"targetingKey":"u1"}}`, 400,
			map[string]any{"key": "banner", "errorCode": "GENERAL", "errorDetails": `flag key "banner" is declared by more than one service in environment prod: ask for api/banner or web/banner`}},
		{"qualified of a shared key", "sgf_prod", "api/banner", `{"context":{"targetingKey":"u1"}}`, 200,
			map[string]any{"key": "api/banner", "reason": "SPLIT"}},
		{"not found", "sgf_prod", "nope", `{"context":{}}`, 404,
			map[string]any{"key": "nope", "errorCode": "FLAG_NOT_FOUND"}},
		{"other environment's flag", "sgf_prod", "staging-only", `{"context":{}}`, 404,
			map[string]any{"errorCode": "FLAG_NOT_FOUND"}},
		{"targeting key missing", "sgf_prod", "colour", `{"context":{}}`, 400,
			map[string]any{"key": "colour", "errorCode": "TARGETING_KEY_MISSING"}},
		{"targeting key not a string", "sgf_prod", "colour", `{"context":{"targetingKey":7}}`, 400,
			map[string]any{"errorCode": "INVALID_CONTEXT"}},
		{"malformed JSON", "sgf_prod", "new-checkout", `{"context":`, 400,
			map[string]any{"key": "new-checkout", "errorCode": "PARSE_ERROR"}},
		{"context not an object", "sgf_prod", "new-checkout", `{"context":[1]}`, 400,
			map[string]any{"errorCode": "INVALID_CONTEXT", "errorDetails": "context must be a JSON object"}},
		{"empty body", "sgf_prod", "new-checkout", ``, 200, map[string]any{"value": true}},
		{"too big", "sgf_prod", "new-checkout", `{"context":{"x":"` + strings.Repeat("x", ofrep.DefaultMaxBodyBytes) + `"}}`, 400,
			map[string]any{"errorCode": "PARSE_ERROR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, srv, one+tc.flag, tc.key, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			for k, v := range tc.want {
				if r.body[k] != v {
					t.Errorf("%s = %#v, want %#v (%s)", k, r.body[k], v, r.raw)
				}
			}
		})
	}
}

// TestUnauthorized: no key, an unknown key or a malformed header gets 401
// and nothing about any flag.
func TestUnauthorized(t *testing.T) {
	_, srv, _ := newServer(t)
	for _, path := range []string{"/ofrep/v1/evaluate/flags/new-checkout", "/ofrep/v1/evaluate/flags"} {
		for _, hdr := range [][]string{nil, {"Authorization", "Bearer sgf_nope"}, {"Authorization", "Basic sgf_prod"}, {"X-API-Key", "sgf_nope"}} {
			r := post(t, srv, path, "", `{"context":{}}`, hdr...)
			if r.status != 401 {
				t.Fatalf("%s %v: status %d, want 401", path, hdr, r.status)
			}
			if strings.Contains(r.raw, "checkout") || strings.Contains(r.raw, "value") || r.header.Get("ETag") != "" {
				t.Fatalf("%s %v: 401 carries flag data: %s", path, hdr, r.raw)
			}
		}
	}
	if r := post(t, srv, "/ofrep/v1/evaluate/flags/new-checkout", "", `{}`, "X-API-Key", "sgf_prod"); r.status != 200 {
		t.Fatalf("X-API-Key: status %d: %s", r.status, r.raw)
	}
}

func TestBulkETag(t *testing.T) {
	st, srv, epoch := newServer(t)
	const bulk = "/ofrep/v1/evaluate/flags"
	ctx := `{"context":{"targetingKey":"u1"}}`
	r := post(t, srv, bulk, "sgf_prod", ctx)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	got := map[string]any{}
	for _, f := range r.body["flags"].([]any) {
		m := f.(map[string]any)
		got[m["key"].(string)] = m["value"]
	}
	want := map[string]any{"new-checkout": true, "api/banner": nil, "web/banner": nil, "colour": nil}
	if len(got) != len(want) {
		t.Fatalf("bulk keys %v, want those of %v", got, want)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Fatalf("bulk lacks %s: %s", k, r.raw)
		}
	}
	tag := r.header.Get("ETag")
	if tag == "" || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers %v", r.header)
	}
	if r := post(t, srv, bulk, "sgf_prod", ctx, "If-None-Match", tag); r.status != 304 || r.raw != "" {
		t.Fatalf("same context and flags: status %d, want 304: %q", r.status, r.raw)
	}
	if r := post(t, srv, bulk, "sgf_prod", `{"context":{"targetingKey":"u2"}}`, "If-None-Match", tag); r.status != 200 {
		t.Fatalf("another context: status %d, want 200", r.status)
	}
	if r := post(t, srv, bulk, "sgf_staging", ctx, "If-None-Match", tag); r.status != 200 || strings.Contains(r.raw, "checkout") {
		t.Fatalf("another environment's key: status %d, %s", r.status, r.raw)
	}
	// A kill made in this process: the epoch moves, the next request sees it.
	st.set("prod", boolFlag("web", "new-checkout", true))
	*epoch++
	r = post(t, srv, bulk, "sgf_prod", ctx, "If-None-Match", tag)
	if r.status != 200 || r.header.Get("ETag") == tag {
		t.Fatalf("after a change: status %d etag %s", r.status, r.header.Get("ETag"))
	}
	f := r.body["flags"].([]any)[0].(map[string]any)
	if md, _ := f["metadata"].(map[string]any); f["reason"] != "STATIC" || f["value"] != false || f["variant"] != "off" || md["disabled"] != true {
		t.Fatalf("killed flag served %v", f)
	}
	if r := post(t, srv, bulk, "sgf_prod", `{"context":"x"}`); r.status != 400 || r.body["errorCode"] != "INVALID_CONTEXT" {
		t.Fatalf("bad context: %d %s", r.status, r.raw)
	}
}

// TestCacheReload: a snapshot is reused while the generation stands, and
// a change another server made (no local signal) is seen once MaxAge has
// passed.
func TestCacheReload(t *testing.T) {
	st := &store{gen: map[string]int64{}, flags: map[string][]shipgate.FlagState{}}
	st.set("prod", boolFlag("web", "new-checkout", false))
	now := time.Unix(1000, 0)
	c := &ofrep.Cache{Loader: st, MaxAge: time.Second, Now: func() time.Time { return now }}
	ctx := context.Background()
	s1, _ := c.Flags(ctx, "prod")
	s2, _ := c.Flags(ctx, "prod")
	if s1 != s2 || st.loads != 1 || st.gens != 1 {
		t.Fatalf("snapshot not reused: loads %d gens %d", st.loads, st.gens)
	}
	st.set("prod", boolFlag("web", "new-checkout", true))
	if s, _ := c.Flags(ctx, "prod"); s != s1 {
		t.Fatal("reloaded before MaxAge without a local change")
	}
	now = now.Add(time.Second)
	s3, _ := c.Flags(ctx, "prod")
	if s3 == s1 || s3.Generation != 2 {
		t.Fatalf("not reloaded after MaxAge: generation %d", s3.Generation)
	}
	if r, _ := s3.Evaluate("new-checkout", nil); r.Reason != "DISABLED" {
		t.Fatalf("reason %s", r.Reason)
	}
	now = now.Add(time.Second)
	if s, _ := c.Flags(ctx, "prod"); s != s3 || st.loads != 2 {
		t.Fatalf("unchanged generation reloaded: loads %d", st.loads)
	}
}

func TestPreflight(t *testing.T) {
	_, srv, _ := newServer(t)
	req, _ := http.NewRequest("OPTIONS", srv.URL+"/ofrep/v1/evaluate/flags", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "If-None-Match") ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
}

// TestUnauthorizedAPIToken: a newcomer who presents their API token (sgp_…)
// instead of an SDK key is told which credential OFREP takes, still with
// 401 and nothing about any flag.
func TestUnauthorizedAPIToken(t *testing.T) {
	_, srv, _ := newServer(t)
	r := post(t, srv, "/ofrep/v1/evaluate/flags/new-checkout", "sgp_quickstart-admin-token", `{"context":{}}`)
	details, _ := r.body["errorDetails"].(string)
	if r.status != 401 || !strings.Contains(details, "not an SDK key") || !strings.Contains(details, "shipgate flag key create") {
		t.Fatalf("status %d, %s; want 401 saying an API token is not an SDK key", r.status, r.raw)
	}
	if strings.Contains(r.raw, "value") || strings.Contains(r.raw, "checkout") {
		t.Fatalf("401 carries flag data: %s", r.raw)
	}
}
