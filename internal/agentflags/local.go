package agentflags

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/ofrep"
)

// Local serves a Mirror over OFREP to the processes of this host:
//
//	POST /environments/{env}/ofrep/v1/evaluate/flags/{key}
//	POST /environments/{env}/ofrep/v1/evaluate/flags
//	GET  /status
//
// A response from flags the server has not confirmed for StaleAfter
// carries "Shipgate-Flags-Stale: true"; every one carries
// Shipgate-Flags-Synced-At. /status lists the mirrored environments.
//
// Unlike the server's OFREP endpoint it sends no CORS headers, and unless
// AnyHost is set it answers only requests whose Host is a loopback
// address or localhost: a web page open in a browser on this host must
// not read the flags, directly or through a DNS name rebound to
// 127.0.0.1.
type Local struct {
	Mirror *Mirror
	// AnyHost accepts every Host header (--flags-listen-any).
	AnyHost bool
	ofrep   *ofrep.Handler
	mux     *http.ServeMux
}

// NewLocal returns the handler of m.
func NewLocal(m *Mirror, logger *slog.Logger) *Local {
	l := &Local{Mirror: m, mux: http.NewServeMux()}
	l.ofrep = ofrep.New(&ofrep.Handler{Source: m, Auth: pathEnv{}, Logger: logger})
	l.mux.HandleFunc("/environments/{env}/ofrep/", l.serveEnv)
	l.mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"environments": m.Statuses()})
	})
	return l
}

// ServeHTTP implements http.Handler.
func (l *Local) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.AnyHost && !loopbackHost(r.Host) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]string{"errorDetails": "the agent's flags endpoint answers requests to a loopback address or localhost only"})
		return
	}
	if r.Method == http.MethodOptions {
		// No CORS preflight: browsers stay out.
		w.WriteHeader(http.StatusForbidden)
		return
	}
	l.mux.ServeHTTP(&noCORS{ResponseWriter: w}, r)
}

// loopbackHost reports whether a Host header names this host by a
// loopback address or localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// noCORS drops the CORS headers the OFREP handler sets for the server's
// browser SDKs.
type noCORS struct {
	http.ResponseWriter
	wrote bool
}

func (w *noCORS) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	for k := range w.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			w.Header().Del(k)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noCORS) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

type envKey struct{}

// pathEnv is the Authenticator of the local endpoint: the environment is
// the one the path names, and no key is asked for (loopback only).
type pathEnv struct{}

func (pathEnv) Authenticate(ctx context.Context, _ string) (string, error) {
	env, _ := ctx.Value(envKey{}).(string)
	return env, nil
}

func (l *Local) serveEnv(w http.ResponseWriter, r *http.Request) {
	env := r.PathValue("env")
	st, ok := l.Mirror.Status(env)
	if r.Method != http.MethodOptions && (!ok || !st.Known) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"errorCode": shipgate.FlagErrNotFound,
			"errorDetails": fmt.Sprintf("this agent serves no flags of environment %q (it serves the environments of the services it supervises, and those given with --flags-env)", env)})
		return
	}
	if st.Known {
		w.Header().Set("Shipgate-Flags-Synced-At", st.SyncedAt.UTC().Format(time.RFC3339))
		if st.Stale {
			w.Header().Set("Shipgate-Flags-Stale", "true")
		}
	}
	r2 := r.Clone(context.WithValue(r.Context(), envKey{}, env))
	r2.URL.Path = r.URL.Path[len("/environments/"+env):]
	r2.URL.RawPath = ""
	l.ofrep.ServeHTTP(w, r2)
}

// BaseURL is the OFREP base URL of env on a listener at addr.
func BaseURL(addr, env string) string {
	return "http://" + addr + "/environments/" + env
}

// CheckListen refuses an address that is not a loopback one unless any
// is set: the local endpoint asks for no key, so anyone who can reach it
// reads every flag of the agent's environments.
func CheckListen(addr string, any bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--flags-listen %q: %w", addr, err)
	}
	if any {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--flags-listen %q is not a loopback address: the local flags endpoint asks for no key, so it listens on 127.0.0.1 or ::1 only (give --flags-listen-any to serve other hosts on purpose)", addr)
	}
	return nil
}
