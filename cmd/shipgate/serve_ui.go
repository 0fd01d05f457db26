package main

import (
	"net/http"
	"strings"

	"github.com/shipgate/shipgate/internal/webui"
)

// withUI serves the web UI at / beside the API: /api/ and /healthz go to
// the API, /ofrep/ to the OFREP handler (feature flag evaluation for
// OpenFeature SDKs, authenticated by SDK keys), everything else to the UI,
// which calls the API in process.
// The session cookie is Secure when this server speaks TLS or people reach
// it at an https public_url (a TLS-terminating proxy in front).
func withUI(cfg *webui.Server, ofrep http.Handler) (http.Handler, error) {
	api := cfg.API
	ui, err := webui.New(cfg)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" || r.URL.Path == "/healthz" {
			api.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/ofrep/") {
			ofrep.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	}), nil
}
