package sqlstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/ofrep"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestSDKKeys: a key is made only for an environment some service
// declares, its secret is never stored (only its hash), revoking is for
// good and said once, every change is audited, and the in-process epoch
// moves after each commit so authenticators reload at once.
func TestSDKKeys(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			testSDKKeys(t, engine)
		})
	}
}

func testSDKKeys(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, flagsYAML)
	secret := shipgate.NewSDKKeySecret()
	if !strings.HasPrefix(secret, "sgf_") || len(secret) < 36 {
		t.Fatalf("secret %q", secret)
	}
	for _, tc := range []struct{ env, name, want string }{
		{"prod", "", `no service declares environment "prod" (declared: [production staging])`},
		{"production", "a\nb", `SDK key name contains the control character "\n"`},
		{"Prod uction", "", "environment"},
	} {
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.CreateSDKKey(ctx, "ada", tc.env, tc.name, secret)
			return err
		})
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("create %q/%q: %v, want invalid: %s", tc.env, tc.name, err, tc.want)
		}
	}
	epoch := db.SDKKeyEpoch()
	var k *shipgate.SDKKey
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		k, err = tx.CreateSDKKey(ctx, "ada", "production", "", secret)
		return err
	})
	if k.Name != "production" || k.Prefix != secret[:12] || k.CreatedBy != "ada" || db.SDKKeyEpoch() == epoch {
		t.Fatalf("created %+v (epoch %d → %d)", k, epoch, db.SDKKeyEpoch())
	}
	var other *shipgate.SDKKey
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		other, err = tx.CreateSDKKey(ctx, "ada", "staging", "web frontend", shipgate.NewSDKKeySecret())
		return err
	})
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		active, err := tx.ActiveSDKKeys(ctx)
		if err != nil {
			return err
		}
		if len(active) != 2 || active[0].Hash != shipgate.HashToken(secret) || active[0].Environment != "production" {
			t.Errorf("active keys %+v", active)
		}
		for _, a := range active {
			if strings.Contains(a.Hash, secret[4:]) {
				t.Error("the secret is stored")
			}
		}
		ks, err := tx.ListSDKKeys(ctx, "staging")
		if len(ks) != 1 || ks[0].ID != other.ID || ks[0].Name != "web frontend" {
			t.Errorf("list staging: %+v", ks)
		}
		return err
	})
	// Use is recorded, never moving back.
	at := clock.Now().Add(time.Minute)
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.TouchSDKKey(ctx, k.ID, at) })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.TouchSDKKey(ctx, k.ID, at.Add(-time.Second)) })
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		got, err := tx.FindSDKKey(ctx, k.ID)
		if err == nil && (got.LastUsedAt == nil || !got.LastUsedAt.Equal(at)) {
			t.Errorf("last used %v, want %v", got.LastUsedAt, at)
		}
		return err
	})
	epoch = db.SDKKeyEpoch()
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := tx.RevokeSDKKey(ctx, "olga", k.ID, "leaked in a screenshot")
		return err
	})
	if db.SDKKeyEpoch() == epoch {
		t.Fatal("revocation did not move the epoch")
	}
	for _, tc := range []struct {
		id   int64
		code string
		want string
	}{
		{k.ID, shipgate.ECONFLICT, "was revoked by olga at"},
		{999, shipgate.ENOTFOUND, "SDK key 999 does not exist"},
	} {
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.RevokeSDKKey(ctx, "olga", tc.id, "")
			return err
		})
		if shipgate.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("revoke %d: %v, want %s: %s", tc.id, err, tc.code, tc.want)
		}
	}
	testutil.View(t, db, func(tx *sqlstore.Tx) error {
		active, err := tx.ActiveSDKKeys(ctx)
		if err != nil {
			return err
		}
		if len(active) != 1 || active[0].ID != other.ID {
			t.Errorf("revoked key still active: %+v", active)
		}
		got, err := tx.FindSDKKey(ctx, k.ID)
		if err != nil {
			return err
		}
		if got.RevokedBy != "olga" || got.RevokedAt == nil {
			t.Errorf("revoked key reads %+v", got)
		}
		evs, err := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 100, ActionPrefix: "sdk_key."})
		if err != nil {
			return err
		}
		var got2 []string
		for _, e := range evs {
			got2 = append(got2, e.Action+" "+e.Subject+" "+e.Actor)
			if strings.Contains(string(e.Details), secret) {
				t.Errorf("audit carries the secret: %s", e.Details)
			}
		}
		want := []string{"sdk_key.created sdk_key/1 ada", "sdk_key.created sdk_key/2 ada", "sdk_key.revoked sdk_key/1 olga"}
		if strings.Join(got2, "|") != strings.Join(want, "|") && strings.Join(reverse(got2), "|") != strings.Join(want, "|") {
			t.Errorf("audit %v, want %v", got2, want)
		}
		return nil
	})
	verify(t, db)
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// TestKillServedAtOnce: a kill through the one writer of flag changes is
// served by the OFREP handler on the same database by its very next
// evaluation (the in-process signal moves after the commit), with the
// safe variant (reason STATIC, metadata disabled: true).
func TestKillServedAtOnce(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			db, _ := newStore(t, engine)
			testutil.MustApply(t, db, flagsYAML)
			secret := shipgate.NewSDKKeySecret()
			testutil.Update(t, db, func(tx *sqlstore.Tx) error {
				_, err := tx.CreateSDKKey(ctx, "ada", "production", "", secret)
				return err
			})
			srv := httptest.NewServer(ofrep.ForDB(db, nil))
			t.Cleanup(srv.Close)
			eval := func() string {
				req, _ := http.NewRequest("POST", srv.URL+"/ofrep/v1/evaluate/flags/new-checkout", strings.NewReader(`{"context":{"targetingKey":"u1"}}`))
				req.Header.Set("Authorization", "Bearer "+secret)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			if got := eval(); !strings.Contains(got, `"value":true,"reason":"STATIC","variant":"on"`) {
				t.Fatalf("before the kill: %s", got)
			}
			prod := findFlag(t, db, "web", "production", "new-checkout")
			killed := prod.Flag
			killed.Disabled = true
			testutil.Update(t, db, func(tx *sqlstore.Tx) error {
				return sqlstore.ApplyFlagChangeForTest(tx, &shipgate.FlagChange{Service: "web", Environment: "production", Key: "new-checkout",
					Op: shipgate.FlagOpKill, Reason: "incident 42", RequestedBy: "olga", Before: &prod.Flag, After: &killed, BaseVersion: prod.Version})
			})
			if got := eval(); !strings.Contains(got, `"value":false,"reason":"STATIC","variant":"off","metadata":{"service":"web","disabled":true}`) {
				t.Fatalf("the next evaluation after the kill: %s", got)
			}
		})
	}
}
