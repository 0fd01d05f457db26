// Package httpapi serves shipgate's JSON API under /api/v1. Every route is
// listed once in Routes(), with the permission it needs; every request is
// authenticated by bearer token and authorised against that permission.
// Every refusal is written to the audit log; repeated refusals of one
// caller and route are counted into one event per minute (refusal.go).
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/evidence"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// DefaultMaxBodyBytes bounds request bodies; service files are the largest.
const DefaultMaxBodyBytes = 1 << 20

// Handler is the API. Create it with NewHandler.
type Handler struct {
	DB         *sqlstore.DB
	Reconciler *reconcile.Reconciler
	Work       *reconcile.Signal
	Secrets    *shipgate.SecretBox
	Logger     *slog.Logger
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	// Artifacts fetches and hashes release artifacts.
	Artifacts ArtifactHasher
	// Dispatcher serves the agent protocol; AgentLostAfter is how long an
	// agent may stay silent before it counts as lost.
	Dispatcher     *reconcile.Dispatcher
	AgentLostAfter time.Duration
	// LocalRunner is the runner built into this server, if it runs one.
	LocalRunner *shipgate.RunnerInfo
	// AuditSigner signs audit checkpoints on demand; without it the
	// checkpoint routes answer failed_precondition.
	AuditSigner *shipgate.AuditSigner
	// TokenMaxLifetime bounds the lifetime of API tokens created through
	// the API (server config tokens.max_lifetime); 0 means no bound.
	TokenMaxLifetime time.Duration
	// WriteTimeout bounds each write of a response; 0 is no bound (see
	// transport.go).
	WriteTimeout time.Duration
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// RequireAgentCert refuses the agent protocol to callers without a
	// verified TLS client certificate.
	RequireAgentCert bool
	// NotifySinks are the names of the server's notification sinks; an
	// applied service file naming others (notify.sinks, escalate_to) is
	// refused. nil skips the check (a server that does not know them).
	NotifySinks []string
	// IsLeader, if set, says whether this server holds the leader lease
	// (runs the reconciler loop and the other background work); /healthz
	// reports it as "leader".
	IsLeader func() bool
	// FreezeOverrideGroup is the group whose members may approve an
	// emergency override of a freeze (server config
	// freezes.override_group); empty refuses every override.
	FreezeOverrideGroup string

	// EvidenceMaxBytes bounds one evidence upload; 0 means
	// evidence.DefaultMaxBytes (32 MiB).
	EvidenceMaxBytes int64
	// Signatures verifies Sigstore bundles attached as signature
	// evidence (server config evidence.signature); nil refuses them.
	Signatures *evidence.SignatureVerifier

	// FlagRecheck is how often an agent's long poll of its flags reads the
	// generation again, to see changes committed by another server (this
	// server's own wake it at once); 0 is every second.
	FlagRecheck time.Duration

	// RefusalWindow is how long repeated refusals of one caller, route
	// and subject are gathered into one audit event (DefaultRefusalWindow
	// when zero). Call FlushRefusals on shutdown.
	RefusalWindow time.Duration

	// stopWaits ends the long polls of agents' claims when the server
	// shuts down (StopWaiting), so a graceful shutdown does not wait a
	// minute for them.
	stopWaits       context.Context
	cancelStopWaits context.CancelFunc

	mux      *http.ServeMux
	touched  sync.Map // token id → last recorded use
	refusals refusalCounter
	seen     sync.Map // agent id → last recorded contact

	metrics metricsCache // computed metric reports (metrics_cache.go)
}

// Route is one API endpoint.
type Route struct {
	Method  string
	Path    string
	Perm    shipgate.Permission
	Summary string
	handle  func(w http.ResponseWriter, r *http.Request, u *shipgate.User) error
	// agent serves routes with Perm PermAgent: the caller is an agent
	// authenticated by the secret its registration gave it.
	agent func(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error
	// join serves the route with Perm PermAgentJoin: the caller holds an
	// agent join token, checked by the handler.
	join func(w http.ResponseWriter, r *http.Request, token string) error
}

// NewHandler builds the API over its dependencies.
func NewHandler(h *Handler) *Handler {
	if h.MaxBodyBytes <= 0 {
		h.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	h.stopWaits, h.cancelStopWaits = context.WithCancel(context.Background())
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		health := map[string]any{"status": "ok"}
		if h.IsLeader != nil {
			health["leader"] = h.IsLeader()
		}
		writeJSON(w, http.StatusOK, health)
	})
	for _, rt := range h.Routes() {
		h.mux.Handle(rt.Method+" "+rt.Path, h.endpoint(rt))
	}
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		u, err := h.authenticate(r)
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		h.fail(w, r, u, shipgate.Errorf(shipgate.ENOTFOUND, "no API route %s %s", r.Method, r.URL.Path))
	})
	return h
}

// route is a user route: a bearer token of a user holding perm.
func route(method, path string, perm shipgate.Permission, summary string, h func(http.ResponseWriter, *http.Request, *shipgate.User) error) Route {
	return Route{Method: method, Path: path, Perm: perm, Summary: summary, handle: h}
}

// Routes lists every API endpoint. The OpenAPI document must describe each.
func (h *Handler) Routes() []Route {
	return append([]Route{
		route("GET", "/api/v1/openapi.json", shipgate.PermRead, "The OpenAPI 3 description of this API", h.openAPI),
		route("GET", "/api/v1/whoami", shipgate.PermRead, "The calling user", h.whoami),

		route("POST", "/api/v1/services", shipgate.PermServiceApply, "Apply a service file", h.applyService),
		route("GET", "/api/v1/services", shipgate.PermRead, "List services", h.listServices),
		route("GET", "/api/v1/services/{name}", shipgate.PermRead, "Show a service", h.getService),
		route("GET", "/api/v1/services/{name}/revisions", shipgate.PermRead, "List a service's revisions", h.listRevisions),
		route("GET", "/api/v1/services/{name}/revisions/{revision}", shipgate.PermRead, "Show one revision with its source", h.getRevision),
		route("GET", "/api/v1/services/{name}/environments", shipgate.PermRead, "Each environment of a service: the release running now, the latest releases, open rollbacks", h.serviceEnvironments),
		route("GET", "/api/v1/runners", shipgate.PermRead, "What the runners are running now, and the built-in runner", h.listRunners),

		route("POST", "/api/v1/releases", shipgate.PermReleaseCreate, "Prepare a release", h.createRelease),
		route("GET", "/api/v1/releases", shipgate.PermRead, "List releases", h.listReleases),
		route("GET", "/api/v1/releases/{id}", shipgate.PermRead, "Show a release with approvals, jobs and timeline", h.getRelease),
		route("GET", "/api/v1/releases/{id}/compare", shipgate.PermRead, "Compare a release with what runs in its environment now", h.compareRelease),
		route("POST", "/api/v1/releases/{id}/approve", shipgate.PermApprove, "Approve a release digest", h.approve),
		route("POST", "/api/v1/releases/{id}/checklist/tick", shipgate.PermRead, "Tick a manual checklist item with an evidence link (members of the item's owner group)", h.tickChecklist),
		route("POST", "/api/v1/releases/{id}/freeze-override", shipgate.PermReleaseCreate, "Ask for an emergency override of the freezes holding a release", h.requestFreezeOverride),
		route("POST", "/api/v1/releases/{id}/freeze-override/approve", shipgate.PermRead, "Approve a release's freeze override (members of the server's override group, not the requester)", h.approveFreezeOverride),
		route("POST", "/api/v1/freezes", shipgate.PermServiceApply, "Create a freeze", h.createFreeze),
		route("GET", "/api/v1/freezes", shipgate.PermRead, "List current and future freezes (all=true: every freeze)", h.listFreezes),
		route("POST", "/api/v1/freezes/{id}/end", shipgate.PermServiceApply, "End a freeze now", h.endFreeze),
		route("POST", "/api/v1/releases/{id}/reject", shipgate.PermApprove, "Reject a release", h.reject),
		route("POST", "/api/v1/releases/{id}/cancel", shipgate.PermReleaseCancel, "Cancel a release", h.cancel),
		route("POST", "/api/v1/releases/{id}/rerun", shipgate.PermReleaseRerun, "Start a new run of a failed release", h.rerun),
		route("GET", "/api/v1/releases/{id}/logs", shipgate.PermRead, "Read job logs", h.logs),

		route("GET", "/api/v1/audit", shipgate.PermRead, "Read the audit log", h.listAudit),
		route("GET", "/api/v1/audit/stream", shipgate.PermRead, "Stream the audit log as NDJSON", h.streamAudit),
		route("GET", "/api/v1/audit/public-key", shipgate.PermRead, "The public key that verifies audit checkpoints", h.auditPublicKey),
		route("POST", "/api/v1/audit/checkpoints", shipgate.PermRead, "Sign the audit head now and return the checkpoint", h.createCheckpoint),
		route("GET", "/api/v1/audit/checkpoints/latest", shipgate.PermRead, "The newest stored audit checkpoint", h.latestCheckpoint),

		route("GET", "/api/v1/metrics/dora", shipgate.PermRead, "DORA metrics computed from the audit chain", h.doraMetrics),

		route("GET", "/api/v1/users", shipgate.PermAdmin, "List users", h.listUsers),
		route("POST", "/api/v1/users", shipgate.PermAdmin, "Create a user", h.createUser),
		route("PUT", "/api/v1/users/{name}/roles", shipgate.PermAdmin, "Set a user's roles", h.setUserRoles),
		route("POST", "/api/v1/users/{name}/disable", shipgate.PermAdmin, "Disable a user", h.disableUser),
		route("POST", "/api/v1/users/{name}/enable", shipgate.PermAdmin, "Enable a disabled user", h.enableUser),
		route("GET", "/api/v1/groups", shipgate.PermRead, "List groups", h.listGroups),
		route("POST", "/api/v1/groups/{name}/members", shipgate.PermAdmin, "Add a user to a group", h.addGroupMember),
		route("DELETE", "/api/v1/groups/{name}/members/{user}", shipgate.PermAdmin, "Remove a user from a group", h.removeGroupMember),
		route("GET", "/api/v1/tokens", shipgate.PermOwnTokens, "List tokens", h.listTokens),
		route("POST", "/api/v1/tokens", shipgate.PermAdmin, "Create a token", h.createToken),
		route("DELETE", "/api/v1/tokens/{id}", shipgate.PermOwnTokens, "Revoke a token", h.revokeToken),
	}, slices.Concat(h.agentRoutes(), h.rollbackRoutes(), h.rolloutRoutes(), h.artifactRoutes(), h.policyRoutes(), h.evidenceRoutes(), h.bundleRoutes(), h.flagRoutes(), h.sdkKeyRoutes(), h.kpiRoutes())...)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.fromProxy(r)
	bounded, done := h.limitSlowWriter(w)
	defer done()
	r.Body = http.MaxBytesReader(w, r.Body, h.bodyLimit(r))
	w = bounded
	if !textOK(r.URL.Path) || !textOK(r.URL.RawQuery) {
		h.fail(w, r, nil, shipgate.Errorf(shipgate.EINVALID, "the request path and query must be valid UTF-8 without NUL characters"))
		return
	}
	for name, vs := range r.URL.Query() {
		for _, v := range vs {
			if !textOK(v) {
				h.fail(w, r, nil, shipgate.Errorf(shipgate.EINVALID, "query values must be valid UTF-8 without NUL characters"))
				return
			}
		}
		// A parameter given twice is read once by its handler; the other
		// value would be ignored without a word (state=pending&state=bogus
		// answered 200). Only the parameters documented as lists repeat.
		if len(vs) > 1 && !repeatable[r.Method+" "+r.URL.Path+" "+name] {
			h.fail(w, r, nil, shipgate.Errorf(shipgate.EINVALID, "query parameter %s is given %d times; give it once", name, len(vs)))
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// repeatable lists the query parameters openapi.json documents as arrays
// (style form, explode): "METHOD path name".
var repeatable = map[string]bool{
	"GET /api/v1/releases state": true,
}

// textOK reports whether s can be stored as text by every engine.
func textOK(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func (h *Handler) endpoint(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Perm == shipgate.PermAgentJoin || rt.Perm == shipgate.PermAgent {
			if err := h.checkAgentCert(r); err != nil {
				h.fail(w, r, nil, err)
				return
			}
		}
		switch rt.Perm {
		case shipgate.PermAgentJoin:
			token, _ := bearer(r)
			if err := rt.join(w, r, token); err != nil {
				h.fail(w, r, nil, err)
			}
			return
		case shipgate.PermAgent:
			a, err := h.authenticateAgent(r)
			if err != nil {
				h.fail(w, r, nil, err)
				return
			}
			if err := rt.agent(w, r, a); err != nil {
				h.fail(w, r, nil, err)
			}
			return
		}
		u, err := h.authenticate(r)
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		if !u.Can(rt.Perm) {
			h.fail(w, r, u, shipgate.Errorf(shipgate.EFORBIDDEN, "user %q may not %s: it needs the %q permission, which %s%s", u.Name, strings.ToLower(rt.Summary), rt.Perm, rolesDoNotGrant(u.Roles), grantedBy(rt.Perm)))
			return
		}
		if err := rt.handle(w, r, u); err != nil {
			h.fail(w, r, u, err)
		}
	})
}

// grantedBy is "; role deployer grants it" or "; roles deployer, admin
// grant it": who to ask for it.
func grantedBy(p shipgate.Permission) string {
	roles := shipgate.RolesGranting(p)
	switch len(roles) {
	case 0:
		return ""
	case 1:
		return "; role " + string(roles[0]) + " grants it"
	}
	return "; roles " + rolesString(roles) + " grant it"
}

// rolesDoNotGrant is "role viewer does not grant" or "roles viewer,
// deployer do not grant".
func rolesDoNotGrant(roles []shipgate.Role) string {
	if len(roles) == 1 {
		return "role " + string(roles[0]) + " does not grant"
	}
	return "roles " + rolesString(roles) + " do not grant"
}

func rolesString(roles []shipgate.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	secret = strings.TrimSpace(secret)
	return secret, ok && secret != ""
}

func (h *Handler) authenticate(r *http.Request) (*shipgate.User, error) {
	if u, ok := callerFrom(r.Context()); ok {
		return u, nil
	}
	secret, ok := bearer(r)
	if !ok {
		return nil, shipgate.Errorf(shipgate.EUNAUTHORIZED, "missing token: send \"Authorization: Bearer <token>\"")
	}
	u, id, err := h.DB.Authenticate(r.Context(), secret)
	if err != nil {
		return nil, err
	}
	u.TokenID = id
	// Record use at most once a minute per token; it is not worth a write
	// per request.
	now := time.Now()
	if last, ok := h.touched.Load(id); !ok || now.Sub(last.(time.Time)) > time.Minute {
		h.touched.Store(id, now)
		if err := h.DB.TouchToken(r.Context(), id); err != nil {
			h.Logger.Warn("record token use", "err", err)
		}
	}
	return u, nil
}

// fail writes err as {"error":{"code","message"}} with its status. Refusals
// (401, 403) are audited first, in their own transaction, because the
// refused change was never made.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, u *shipgate.User, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = shipgate.Errorf(shipgate.ETOOLARGE, "request body is larger than the limit of %d bytes", mbe.Limit)
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The caller went away (an agent stopping ends its long-poll):
		// nobody reads an answer, and it is not a server error. Only a
		// cancellation counts: a body cut off by the server's own read
		// deadline also ends the request's context, and is still answered.
		h.Logger.Debug("request ended: the caller went away", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	code := shipgate.ErrorCode(err)
	msg := shipgate.ErrorMessage(err)
	if code == shipgate.EINTERNAL {
		h.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == shipgate.EUNAUTHORIZED || code == shipgate.EFORBIDDEN {
		// A refusal stays a refusal: if its event cannot be written now,
		// auditRefusal keeps it in its window's count, written later.
		if aerr := h.auditRefusal(r, u, code, msg); aerr != nil {
			h.Logger.Error("audit refusal; counted to write later", "err", aerr)
		}
	}
	writeJSON(w, statusOf(code), map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// clip shortens s to at most n bytes of valid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host // an IPv6 address without its brackets
	}
	return r.RemoteAddr
}

var statusCodes = map[string]int{
	shipgate.EINVALID:            http.StatusBadRequest,
	shipgate.EUNAUTHORIZED:       http.StatusUnauthorized,
	shipgate.EFORBIDDEN:          http.StatusForbidden,
	shipgate.ENOTFOUND:           http.StatusNotFound,
	shipgate.ECONFLICT:           http.StatusConflict,
	shipgate.EFAILEDPRECONDITION: http.StatusPreconditionFailed,
	shipgate.ETOOLARGE:           http.StatusRequestEntityTooLarge,
	shipgate.EINTERNAL:           http.StatusInternalServerError,
}

func statusOf(code string) int {
	if s, ok := statusCodes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body strictly: it must be one JSON object
// (not null, an array or a string), and unknown fields are errors.
func readJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return shipgate.Errorf(shipgate.EINVALID, "the request body is empty: send a JSON object")
	}
	return decodeJSON(body, v)
}

// readOptionalJSON is readJSON for an endpoint whose body may be left out:
// no body at all (Content-Length: 0, or chunked with nothing in it, or only
// white space) leaves v as it is. A body that is there is held to the same
// rules as readJSON's.
func readOptionalJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeJSON(body, v)
}

// readBody reads a whole request body, within the handler's size limit.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err // 413 in fail
		}
		return nil, shipgate.Errorf(shipgate.EINVALID, "the request body did not arrive: %v", err)
	}
	return body, nil
}

// decodeJSON decodes body, which must be one JSON object, into v.
func decodeJSON(body []byte, v any) error {
	if bytes.Contains(body, []byte(`\u0000`)) {
		return shipgate.Errorf(shipgate.EINVALID, "request body contains a NUL character (\\u0000), which no field accepts")
	}
	// json.Decode accepts null for a struct and leaves it as it was: a
	// client sending null meant something else, so it is refused.
	if trimmed := bytes.TrimSpace(body); trimmed[0] != '{' {
		return shipgate.Errorf(shipgate.EINVALID, "the request body must be a JSON object ({...}), not %s", jsonKind(trimmed[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return shipgate.Errorf(shipgate.EINVALID, "request body is not valid JSON for this endpoint: %v", err)
	}
	if dec.More() {
		return shipgate.Errorf(shipgate.EINVALID, "request body has data after the JSON value")
	}
	return nil
}

// jsonKind names the JSON value that starts with c, for an error message.
func jsonKind(c byte) string {
	switch c {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	if c == '-' || c >= '0' && c <= '9' {
		return "a number"
	}
	return "something that is not JSON"
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, shipgate.Errorf(shipgate.EINVALID, "%q is not an id", r.PathValue("id"))
	}
	return id, nil
}

func queryInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, shipgate.Errorf(shipgate.EINVALID, "query parameter %s=%q is not a non-negative number", name, s)
	}
	return v, nil
}

// changed wakes the reconciler and waiting runners after a committed change.
func (h *Handler) changed() {
	if h.Reconciler != nil {
		h.Reconciler.Kick()
	}
	if h.Work != nil {
		h.Work.Notify()
	}
}

// StopWaiting answers every waiting claim now, with no work, and every
// later one at once: the server is shutting down, and its agents should
// not hold the graceful shutdown up by a minute-long poll.
func (h *Handler) StopWaiting() { h.cancelStopWaits() }

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	writeJSON(w, http.StatusOK, u)
	return nil
}
