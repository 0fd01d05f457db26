package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/promexport"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// The control plane's own metrics (docs/metrics.md "Control-plane
// metrics"): on --metrics-listen without authentication (keep that
// address private), and on the API listener at /metrics only with
// --metrics-token-file, for a bearer token.

// minMetricsToken is the shortest metrics token accepted: a guessable one
// would open the metrics to anyone reaching the API.
const minMetricsToken = 16

// minDORAEvery is the shortest --metrics-dora-every: each computation
// reads the window's history.
const minDORAEvery = 5 * time.Second

// readMetricsToken checks the metrics flags and reads --metrics-token-file:
// one line, at least minMetricsToken characters. Empty path: no token, and
// /metrics is not served on the API listener.
func readMetricsToken(path string, doraEvery time.Duration) (string, error) {
	if doraEvery != 0 && doraEvery < minDORAEvery { // 0: the default, a minute
		return "", fmt.Errorf("--metrics-dora-every must be at least %s", minDORAEvery)
	}
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--metrics-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case len(tok) < minMetricsToken:
		return "", fmt.Errorf("--metrics-token-file %s: the token must be at least %d characters (e.g. openssl rand -hex 32)", path, minMetricsToken)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("--metrics-token-file %s: the token must be one line without spaces", path)
	}
	return tok, nil
}

// startMetrics builds the control plane's metrics on db, counts what db
// commits and what worker delivers, and runs until ctx ends.
func startMetrics(ctx context.Context, db *sqlstore.DB, worker *notify.Worker, cfg ServeConfig, logger *slog.Logger) *promexport.Metrics {
	var sinks []string
	for _, s := range worker.Sinks {
		sinks = append(sinks, s.Name)
	}
	m := promexport.New(db, promexport.Options{LostAfter: cfg.LostAfter, Logger: logger, DORA: doraSource(db), DORAInterval: cfg.MetricsDORAEvery, Sinks: sinks})
	db.Committed = m.Observe
	worker.Attempted = m.Delivery
	go m.Run(ctx)
	return m
}

// withMetrics serves /metrics on the API listener to a bearer of token
// (401 otherwise), or answers 404 when no token is configured; every
// other path goes to next.
func withMetrics(next http.Handler, m *promexport.Metrics, token string) http.Handler {
	metrics := m.Handler()
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		if token == "" {
			http.Error(w, "metrics are not served on this address: start the server with --metrics-token-file, or scrape --metrics-listen", http.StatusNotFound)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shipgate metrics"`)
			http.Error(w, "a valid metrics token is required (Authorization: Bearer, the token of --metrics-token-file)", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

// serveControlMetrics serves the control plane's metrics — and the
// built-in runner's router metrics when router is not nil — on ln
// (--metrics-listen), without authentication.
func serveControlMetrics(ln net.Listener, m *promexport.Metrics, router http.Handler, logger *slog.Logger) (stop func()) {
	if ln == nil {
		return func() {}
	}
	gatherers := prometheus.Gatherers{m.Registry()}
	if router != nil {
		gatherers = append(gatherers, routerGatherer(router))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics listener ended", "err", err)
		}
	}()
	logger.Info("serving control-plane metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	if !loopbackOnly(ln.Addr()) {
		logger.Warn("--metrics-listen serves the metrics (service and environment names, DORA figures, release counts) without authentication on a non-loopback address: keep it on 127.0.0.1, behind a firewall, or scrape /metrics on --listen with --metrics-token-file", "addr", ln.Addr().String())
	}
	return func() { srv.Close() }
}

// routerGatherer reads the router's text exposition as metric families,
// so one scrape returns both.
func routerGatherer(router http.Handler) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		parser := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			return nil, fmt.Errorf("router metrics: %w", err)
		}
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
}
