package main

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/webui"
)

// withUI serves the web UI at / beside the API: /api/ and /healthz go to
// the API, everything else to the UI, which calls the API in process.
func withUI(api *httpapi.Handler, db *sqlstore.DB, logger *slog.Logger, tls bool) (http.Handler, error) {
	ui, err := webui.New(&webui.Server{API: api, DB: db, Logger: logger, TLS: tls})
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" || r.URL.Path == "/healthz" {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	}), nil
}
