package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/ofrep"
)

const flagService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
  environments: [{name: staging}, {name: production}]
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// TestSDKKeysAPI: admins make and revoke SDK keys, everyone may list them
// (no secret is ever shown again), a bad request changes nothing, and a
// revoked key is refused by OFREP at once.
func TestSDKKeysAPI(t *testing.T) {
	f := newFixture(t)
	admin, viewer := f.client("admin"), f.client("viewer")
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(flagService)); err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.CreateSDKKey(ctx, client.CreateSDKKeyRequest{Environment: "production"}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer creating a key: %v", err)
	}
	before := auditLen(t, f)
	if _, err := admin.CreateSDKKey(ctx, client.CreateSDKKeyRequest{Environment: "prod"}); shipgate.ErrorCode(err) != shipgate.EINVALID ||
		!strings.Contains(err.Error(), `no service declares environment "prod" (declared: [production staging])`) {
		t.Fatalf("unknown environment: %v", err)
	}
	if status, out := f.raw(t, "POST", "/api/v1/sdk-keys", f.tokens["admin"], []byte(`{"environment":"production","scope":"all"}`)); status != 400 || errorCode(out) != "invalid" {
		t.Fatalf("unknown field: %d %v", status, out)
	}
	if n := auditLen(t, f); n != before {
		t.Fatalf("bad requests wrote %d audit events", n-before)
	}
	k, err := admin.CreateSDKKey(ctx, client.CreateSDKKeyRequest{Environment: "production", Name: "checkout web app"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Secret, "sgf_") || k.Key.Prefix != k.Secret[:12] || k.Key.Name != "checkout web app" || k.Key.CreatedBy != "admin" {
		t.Fatalf("created %+v", k)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionSDKKeyCreated || e.Actor != "admin" || strings.Contains(string(e.Details), k.Secret) {
		t.Fatalf("audit %+v", e)
	}
	list, err := viewer.SDKKeys(ctx, "production")
	if err != nil || len(list) != 1 || list[0].ID != k.Key.ID {
		t.Fatalf("list: %v %+v", err, list)
	}
	if other, _ := viewer.SDKKeys(ctx, "staging"); len(other) != 0 {
		t.Fatalf("staging lists %+v", other)
	}

	// OFREP on the same database: the key evaluates production's flags.
	o := httptest.NewServer(ofrep.ForDB(f.db, nil))
	t.Cleanup(o.Close)
	eval := func() int {
		req, _ := http.NewRequest("POST", o.URL+"/ofrep/v1/evaluate/flags/new-checkout", strings.NewReader(`{"context":{"targetingKey":"u"}}`))
		req.Header.Set("X-API-Key", k.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := eval(); s != 200 {
		t.Fatalf("OFREP with a fresh key: %d", s)
	}
	if _, err := viewer.RevokeSDKKey(ctx, k.Key.ID, ""); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer revoking: %v", err)
	}
	got, err := admin.RevokeSDKKey(ctx, k.Key.ID, "leaked in a screenshot")
	if err != nil || got.RevokedBy != "admin" || got.RevokedAt == nil {
		t.Fatalf("revoke: %v %+v", err, got)
	}
	if e := f.lastEvent(t); e.Action != shipgate.ActionSDKKeyRevoked || !strings.Contains(string(e.Details), "leaked in a screenshot") {
		t.Fatalf("audit %+v", e)
	}
	if s := eval(); s != 401 {
		t.Fatalf("OFREP with a revoked key: %d, want 401", s)
	}
	if _, err := admin.RevokeSDKKey(ctx, k.Key.ID, ""); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "was revoked by admin") {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := admin.RevokeSDKKey(ctx, 99, ""); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("revoking a missing key: %v", err)
	}
}
