package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ofrepprovider "github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"
)

const ofrepService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
      rules:
        - name: not in NZ yet
          when: [{ attribute: country, op: equals, value: NZ }]
          variant: "off"
    - key: banner
      type: string
      variants: { plain: "Welcome", fancy: "Welcome back!" }
      default_variant: plain
      safe_variant: plain
      rollout:
        split: [{ variant: plain, percent: 30 }, { variant: fancy, percent: 70 }]
    - key: max-items
      type: number
      variants: { few: 10, many: 250 }
      default_variant: few
      safe_variant: few
      rules:
        - when: [{ attribute: app_version, op: semver_ge, value: "2.3.0" }]
          variant: many
    - key: theme
      type: json
      variants:
        light: { background: white, accent: blue }
        dark: { background: black, accent: orange }
      default_variant: light
      safe_variant: light
  environments:
    - name: staging
    - name: production
  pipeline:
    jobs:
      - name: deploy
        steps: [{ run: "true" }]
`

// TestOpenFeatureSDKConformance (issue 15, "Done when"): the official
// OpenFeature Go SDK with its OFREP provider evaluates shipgate's flags
// against the built server: every flag type, targeting, a percentage
// rollout (sticky per targeting key, the mix as declared), a change and a
// kill taking effect, 304 on an unchanged bulk answer, the error codes,
// and a bad or revoked key getting 401 (the SDK falls back to its
// default).
func TestOpenFeatureSDKConformance(t *testing.T) {
	s := startServer(t)
	os.WriteFile(filepath.Join(s.workDir, "shop.yaml"), []byte(ofrepService), 0o644)
	s.ok("admin", "apply", "-f", "shop.yaml")
	var key struct {
		Key struct {
			ID          int64  `json:"id"`
			Environment string `json:"environment"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	s.jsonOut(&key, "admin", "flag", "key", "create", "--env", "production", "--name", "shop backend")
	if !strings.HasPrefix(key.Secret, "sgf_") || key.Key.Environment != "production" {
		t.Fatalf("key %+v", key)
	}
	staging := strings.TrimSpace(s.ok("admin", "flag", "key", "create", "--env", "staging"))
	s.fails(`no service declares environment "prod"`, "admin", "flag", "key", "create", "--env", "prod")

	client := sdkClient(t, "shipgate-prod", s.direct, ofrepprovider.WithBearerToken(key.Secret))
	ctx := context.Background()
	user := func(id string, attrs map[string]any) openfeature.EvaluationContext {
		return openfeature.NewEvaluationContext(id, attrs)
	}

	// Every type, with targeting.
	b, err := client.BooleanValueDetails(ctx, "new-checkout", false, user("u1", map[string]any{"country": "DE"}))
	if err != nil || !b.Value || b.Variant != "on" || b.Reason != openfeature.DefaultReason || b.FlagMetadata["service"] != "shop" {
		t.Fatalf("boolean: %v %+v", err, b)
	}
	b, _ = client.BooleanValueDetails(ctx, "new-checkout", true, user("u1", map[string]any{"country": "NZ"}))
	if b.Value || b.Variant != "off" || b.Reason != openfeature.TargetingMatchReason {
		t.Fatalf("boolean rule: %+v", b)
	}
	n, err := client.FloatValueDetails(ctx, "max-items", 1, user("u1", map[string]any{"app_version": "2.4.1"}))
	if err != nil || n.Value != 250 || n.Reason != openfeature.TargetingMatchReason {
		t.Fatalf("number: %v %+v", err, n)
	}
	i, err := client.IntValueDetails(ctx, "max-items", 1, user("u1", map[string]any{"app_version": "2.2.9"}))
	if err != nil || i.Value != 10 || i.Reason != openfeature.DefaultReason {
		t.Fatalf("integer: %v %+v", err, i)
	}
	o, err := client.ObjectValueDetails(ctx, "theme", nil, user("u1", nil))
	if m, _ := o.Value.(map[string]any); err != nil || m["accent"] != "blue" || o.Variant != "light" || o.Reason != openfeature.StaticReason {
		t.Fatalf("object: %v %+v", err, o)
	}
	sv, err := client.StringValueDetails(ctx, "shop/banner", "x", user("u1", nil))
	if err != nil || sv.Reason != openfeature.SplitReason {
		t.Fatalf("qualified key: %v %+v", err, sv)
	}

	// A percentage rollout: the same targeting key always gets the same
	// variant; over many keys the mix is as declared (30/70; 2,000 keys
	// put it within ±4 points with overwhelming probability).
	first := map[string]string{}
	fancy := 0
	const users = 2000
	for j := range users {
		id := fmt.Sprintf("user-%d", j)
		d, err := client.StringValueDetails(ctx, "banner", "x", user(id, nil))
		if err != nil || d.Reason != openfeature.SplitReason {
			t.Fatalf("rollout %s: %v %+v", id, err, d)
		}
		first[id] = d.Variant
		if d.Variant == "fancy" {
			fancy++
		}
	}
	if share := float64(fancy) / users; share < 0.66 || share > 0.74 {
		t.Fatalf("fancy share %.3f, want 0.70 ± 0.04", share)
	}
	for j := 0; j < users; j += 97 {
		id := fmt.Sprintf("user-%d", j)
		if d, _ := client.StringValueDetails(ctx, "banner", "x", user(id, nil)); d.Variant != first[id] {
			t.Fatalf("%s got %s, then %s", id, first[id], d.Variant)
		}
	}

	// Errors: the SDK returns the caller's default with the error code.
	for _, tc := range []struct {
		flag string
		ec   *openfeature.EvaluationContext
		code openfeature.ErrorCode
	}{
		{"no-such-flag", nil, openfeature.FlagNotFoundCode},
		{"banner", &openfeature.EvaluationContext{}, openfeature.TargetingKeyMissingCode},
	} {
		ec := user("u1", nil)
		if tc.ec != nil {
			ec = *tc.ec
		}
		d, err := client.StringValueDetails(ctx, tc.flag, "fallback", ec)
		if err == nil || d.Value != "fallback" || d.ErrorCode != tc.code || d.Reason != openfeature.ErrorReason {
			t.Fatalf("%s: %v %+v, want the default and %s", tc.flag, err, d, tc.code)
		}
	}
	if d, err := client.BooleanValueDetails(ctx, "banner", true, user("u1", nil)); err == nil || d.ErrorCode != openfeature.TypeMismatchCode || !d.Value {
		t.Fatalf("type mismatch: %v %+v", err, d)
	}

	// Bulk over raw HTTP: ETag, then 304 until something changes.
	bulkBody := `{"context":{"targetingKey":"u1","country":"DE"}}`
	st, tag, body := bulk(t, s.direct, key.Secret, bulkBody, "")
	if st != 200 || tag == "" || !strings.Contains(body, `"key":"new-checkout"`) {
		t.Fatalf("bulk: %d %q %s", st, tag, body)
	}
	if st, _, body := bulk(t, s.direct, key.Secret, bulkBody, tag); st != 304 || body != "" {
		t.Fatalf("bulk with its ETag: %d %s, want 304", st, body)
	}

	// Browsers: the CORS preflight of the web provider is answered.
	pre, _ := http.NewRequest("OPTIONS", s.direct+"/ofrep/v1/evaluate/flags", nil)
	pre.Header.Set("Origin", "https://shop.example.com")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type,if-none-match")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "If-None-Match") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// A change applied with the service file is served by the next request.
	s.ok("admin", "apply", "-f", writeFile(t, s.workDir, "shop2.yaml", strings.Replace(ofrepService, `default_variant: few`, `default_variant: many`, 1)))
	if i, _ := client.IntValueDetails(ctx, "max-items", 1, user("u1", nil)); i.Value != 250 {
		t.Fatalf("after the change: %+v", i)
	}
	st, tag2, _ := bulk(t, s.direct, key.Secret, bulkBody, tag)
	if st != 200 || tag2 == tag {
		t.Fatalf("bulk after a change: %d (etag %s → %s), want 200 and a new ETag", st, tag, tag2)
	}

	// A kill written to the database by someone else (another server:
	// this one has no in-process signal of it) is served within a second.
	killFlag(t, filepath.Join(s.dir, "data", "shipgate.db"), "shop", "production", "new-checkout")
	// The server answers the safe variant's value with reason STATIC and
	// metadata disabled: true, so the SDK hands the application the safe
	// variant's value, not its code default. The application's default
	// here is true, the safe variant false: only the kill can give false.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := client.BooleanValueDetails(ctx, "new-checkout", true, user("u1", map[string]any{"country": "DE"}))
		if err == nil && d.FlagMetadata["disabled"] == true {
			if d.Value || d.Variant != "off" || d.Reason != openfeature.StaticReason {
				t.Fatalf("killed flag served %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kill not served within 5 s: %+v (err %v)", d, err)
		}
	}
	if _, _, body := bulk(t, s.direct, key.Secret, bulkBody, ""); !strings.Contains(body, `{"key":"new-checkout","value":false,"reason":"STATIC","variant":"off","metadata":{"service":"shop","disabled":true}}`) {
		t.Fatalf("bulk after the kill: %s", body)
	}

	// The staging key sees staging's flags only, not production's kill.
	stg := sdkClient(t, "shipgate-staging", s.direct, ofrepprovider.WithApiKeyAuth(staging))
	if d, err := stg.BooleanValueDetails(ctx, "new-checkout", false, user("u1", nil)); err != nil || d.Reason != openfeature.DefaultReason || !d.Value {
		t.Fatalf("staging: %v %+v", err, d)
	}

	// A bad key and a revoked key: 401, no flag data, the SDK's default.
	bad := sdkClient(t, "shipgate-bad", s.direct, ofrepprovider.WithBearerToken("sgf_"+strings.Repeat("a", 32)))
	if d, err := bad.BooleanValueDetails(ctx, "new-checkout", true, user("u1", nil)); err == nil || !d.Value || d.ErrorCode != openfeature.GeneralCode {
		t.Fatalf("bad key: %v %+v", err, d)
	}
	s.ok("admin", "flag", "key", "revoke", fmt.Sprint(key.Key.ID), "--reason", "rotated")
	if d, err := client.StringValueDetails(ctx, "banner", "fallback", user("u1", nil)); err == nil || d.Value != "fallback" {
		t.Fatalf("revoked key still evaluates: %+v", d)
	}
	for _, path := range []string{"/ofrep/v1/evaluate/flags/banner", "/ofrep/v1/evaluate/flags"} {
		req, _ := http.NewRequest("POST", s.direct+path, strings.NewReader(bulkBody))
		req.Header.Set("Authorization", "Bearer "+key.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || strings.Contains(string(raw), "Welcome") || strings.Contains(string(raw), `"flags"`) || resp.Header.Get("ETag") != "" {
			t.Fatalf("%s with a revoked key: %d %s", path, resp.StatusCode, raw)
		}
	}
	list := s.ok("admin", "flag", "key", "list")
	if !strings.Contains(list, "revoked") || !strings.Contains(list, "shop backend") || strings.Contains(list, key.Secret) {
		t.Fatalf("flag key list:\n%s", list)
	}
	s.fails("was revoked by admin", "admin", "flag", "key", "revoke", fmt.Sprint(key.Key.ID))
}

func sdkClient(t *testing.T, domain, base string, opts ...ofrepprovider.Option) *openfeature.Client {
	t.Helper()
	p := ofrepprovider.NewProvider(base, append(opts, ofrepprovider.WithClient(&http.Client{Timeout: 10 * time.Second}))...)
	if err := openfeature.SetNamedProviderAndWait(domain, p); err != nil {
		t.Fatal(err)
	}
	return openfeature.NewClient(domain)
}

func bulk(t *testing.T, base, key, body, ifNoneMatch string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/ofrep/v1/evaluate/flags", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag"), string(raw)
}

// killFlag disables a flag in the server's SQLite database directly, as
// a second server sharing the database would (the governed "flag kill"
// goes through the same writer and moves the same generation): what this
// checks is that the OFREP server notices a change it did not make.
func killFlag(t *testing.T, dsn, service, env, key string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var def string
	if err := db.QueryRow(`SELECT definition FROM flags WHERE service = ? AND environment = ? AND key = ?`, service, env, key).Scan(&def); err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	json.Unmarshal([]byte(def), &f)
	f["disabled"] = true
	b, _ := json.Marshal(f)
	if _, err := db.Exec(`UPDATE flags SET definition = ?, version = version + 1 WHERE service = ? AND environment = ? AND key = ?`, string(b), service, env, key); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE flag_generations SET generation = generation + 1 WHERE environment = ?`, env); err != nil {
		t.Fatal(err)
	}
}
