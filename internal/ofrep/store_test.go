package ofrep_test

import (
	"context"
	"fmt"
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

const benchService = `apiVersion: shipgate/v1
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
        - when: [{ attribute: country, op: in, value: [NZ, AU] }]
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
        light: { background: white }
        dark: { background: black }
      default_variant: light
      safe_variant: light
  environments:
    - name: production
  pipeline:
    jobs:
      - name: deploy
        steps: [{ run: "true" }]
`

func sdkKey(t testing.TB, db *sqlstore.DB, env string) (string, int64) {
	t.Helper()
	secret := shipgate.NewSDKKeySecret()
	var id int64
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		k, err := tx.CreateSDKKey(context.Background(), "test", env, "", secret)
		if err == nil {
			id = k.ID
		}
		return err
	})
	return secret, id
}

func evalStatus(t testing.TB, c *http.Client, url, key, flag string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/ofrep/v1/evaluate/flags/"+flag, strings.NewReader(`{"context":{"targetingKey":"u1"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServersSharingADatabase: a change made through one server is served
// by it at once, and by another server on the same database soon after
// (within Cache.MaxAge, 250 ms); a revocation likewise (Keys.MaxAge, 1 s).
func TestServersSharingADatabase(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dsn := testutil.DSN(t, engine)
			open := func() *sqlstore.DB {
				db, err := sqlstore.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			one, two := open(), open()
			testutil.MustApply(t, one, benchService)
			key, id := sdkKey(t, one, "production")
			s1, s2 := httptest.NewServer(ofrep.ForDB(one, nil)), httptest.NewServer(ofrep.ForDB(two, nil))
			t.Cleanup(s1.Close)
			t.Cleanup(s2.Close)
			for _, s := range []*httptest.Server{s1, s2} {
				if st, body := evalStatus(t, s.Client(), s.URL, key, "max-items"); st != 200 || !strings.Contains(body, `"value":10`) {
					t.Fatalf("before: %d %s", st, body)
				}
			}
			testutil.MustApply(t, one, strings.Replace(benchService, "default_variant: few", "default_variant: many", 1))
			if st, body := evalStatus(t, s1.Client(), s1.URL, key, "max-items"); st != 200 || !strings.Contains(body, `"value":250`) {
				t.Fatalf("the server that made the change: %d %s", st, body)
			}
			eventually(t, func() bool {
				_, body := evalStatus(t, s2.Client(), s2.URL, key, "max-items")
				return strings.Contains(body, `"value":250`)
			})
			testutil.Update(t, one, func(tx *sqlstore.Tx) error {
				_, err := tx.RevokeSDKKey(context.Background(), "test", id, "")
				return err
			})
			if st, _ := evalStatus(t, s1.Client(), s1.URL, key, "max-items"); st != 401 {
				t.Fatalf("revoked key on the server that revoked it: %d", st)
			}
			eventually(t, func() bool {
				st, _ := evalStatus(t, s2.Client(), s2.URL, key, "max-items")
				return st == 401
			})
		})
	}
}

// eventually fails t unless cond comes to hold. How soon is not asserted
// here (no timed assertions): TestCacheReload and TestKeys hold the
// bounds (MaxAge) with a fake clock.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the other server never saw the change")
		}
	}
}

type benchServer struct {
	url    string
	key    string
	client *http.Client
	h      *ofrep.Handler
}

func newBenchServer(b *testing.B, maxAge time.Duration) *benchServer {
	db := testutil.NewStore(b, "sqlite")
	testutil.MustApply(b, db, benchService)
	key, _ := sdkKey(b, db, "production")
	st := ofrep.Store{DB: db}
	h := ofrep.New(&ofrep.Handler{
		Source: &ofrep.Cache{Loader: st, Changed: db.FlagEpoch, MaxAge: maxAge},
		Auth:   &ofrep.Keys{Loader: st, Changed: db.SDKKeyEpoch},
	})
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchServer{url: srv.URL, key: key, client: &http.Client{Transport: tr}, h: h}
}

func (s *benchServer) post(b *testing.B, path, body string) {
	req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkOFREPSingle: single evaluations over HTTP (keep-alive,
// parallel clients) against a real SQLite store: the rule-and-rollout
// flags an application asks for most, one user per request.
func BenchmarkOFREPSingle(b *testing.B) {
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
	}{{"cached", 0}, {"generation-read-per-request", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			s := newBenchServer(b, tc.maxAge)
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					s.post(b, "/ofrep/v1/evaluate/flags/banner", fmt.Sprintf(`{"context":{"targetingKey":"user-%d","country":"DE"}}`, i))
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}

// BenchmarkOFREPBulk: bulk evaluations (all 4 flags) over HTTP.
func BenchmarkOFREPBulk(b *testing.B) {
	s := newBenchServer(b, 0)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			s.post(b, "/ofrep/v1/evaluate/flags", fmt.Sprintf(`{"context":{"targetingKey":"user-%d","app_version":"2.4.0"}}`, i))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	b.ReportMetric(4*float64(b.N)/b.Elapsed().Seconds(), "evals/s")
}

// BenchmarkOFREPInProcess: the handler without the network (decode,
// authenticate, evaluate, encode), and the snapshot's evaluation alone.
func BenchmarkOFREPInProcess(b *testing.B) {
	s := newBenchServer(b, 0)
	b.Run("handler", func(b *testing.B) {
		for b.Loop() {
			req := httptest.NewRequest("POST", "/ofrep/v1/evaluate/flags/banner", strings.NewReader(`{"context":{"targetingKey":"user-1","country":"DE"}}`))
			req.Header.Set("Authorization", "Bearer "+s.key)
			w := httptest.NewRecorder()
			s.h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
	b.Run("evaluate", func(b *testing.B) {
		snap, err := s.h.Source.Flags(context.Background(), "production")
		if err != nil {
			b.Fatal(err)
		}
		ctx := map[string]any{"targetingKey": "user-1", "country": "DE"}
		for b.Loop() {
			if r, _ := snap.Evaluate("banner", ctx); r.ErrorCode != "" {
				b.Fatal(r.ErrorMessage)
			}
		}
	})
}
