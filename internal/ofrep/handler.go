package ofrep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/flags"
)

// Source gives the compiled flags of an environment as they are now.
type Source interface {
	Flags(ctx context.Context, env string) (*Snapshot, error)
}

// Authenticator maps the secret an SDK presents to the environment whose
// flags it may evaluate. A missing, unknown or revoked secret is an error
// with code shipgate.EUNAUTHORIZED; any other error is the server's.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (env string, err error)
}

// DefaultMaxBodyBytes bounds a request body: an evaluation context is a
// handful of attributes.
const DefaultMaxBodyBytes = 64 << 10

// Handler serves OFREP. Create it with New.
type Handler struct {
	Source Source
	Auth   Authenticator
	// MaxBodyBytes bounds a request body; 0 is DefaultMaxBodyBytes.
	MaxBodyBytes int64
	Logger       *slog.Logger
	mux          *http.ServeMux
}

// New returns h, ready to serve.
func New(h *Handler) *Handler {
	if h.MaxBodyBytes <= 0 {
		h.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key...}", h.evaluate)
	h.mux.HandleFunc("POST /ofrep/v1/evaluate/flags", h.bulk)
	h.mux.HandleFunc("OPTIONS /ofrep/", h.preflight)
	return h
}

// CORS: browser SDKs (@openfeature/ofrep-web-provider) call from any
// origin with an SDK key in a header, never with cookies, so any origin
// may call; the key is what authorises.
func cors(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "ETag")
}

func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	cors(w)
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match, X-API-Key")
	hd.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// ServeHTTP serves the OFREP routes under /ofrep/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cors(w)
	h.mux.ServeHTTP(w, r)
}

// secret is the SDK key of the request: "Authorization: Bearer KEY" (the
// OFREP providers' bearer option) or "X-API-Key: KEY".
func secret(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// environment authenticates the request; on refusal it has answered.
func (h *Handler) environment(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := secret(r)
	env, err := h.Auth.Authenticate(r.Context(), key)
	if err == nil {
		return env, true
	}
	if shipgate.ErrorCode(err) == shipgate.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shipgate-ofrep"`)
		details := "a valid SDK key is required (Authorization: Bearer KEY or X-API-Key: KEY)"
		if strings.HasPrefix(key, "sgp_") || strings.HasPrefix(key, "sga_") {
			// The API's and agents' tokens look alike to a newcomer.
			details += "; this is an API or agent token, not an SDK key (sgf_…): create one with `shipgate flag key create --env ENV`"
		}
		writeJSON(w, http.StatusUnauthorized, generalError{ErrorDetails: details})
		return "", false
	}
	h.internal(w, r, err)
	return "", false
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.Logger.Error("ofrep", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, generalError{ErrorDetails: "internal error evaluating flags"})
}

type generalError struct {
	ErrorDetails string `json:"errorDetails"`
}

type requestError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

// readContext reads {"context": {...}} in one pass and returns the body
// too (the bulk ETag hashes it). A body that is not JSON is PARSE_ERROR; a
// context that is not an object is INVALID_CONTEXT. An empty body or a
// missing context is the empty context. Other members are ignored, as
// later protocol versions may add some.
func (h *Handler) readContext(r *http.Request) (map[string]any, []byte, *requestError) {
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), h.MaxBodyBytes)+1))
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, h.MaxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, &requestError{shipgate.FlagErrParse, "the request body is larger than " + strconv.FormatInt(h.MaxBodyBytes, 10) + " bytes"}
		}
		return nil, nil, &requestError{shipgate.FlagErrParse, "reading the request body: " + err.Error()}
	}
	body := buf.Bytes()
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, body, nil
	}
	var req struct {
		Context any `json:"context"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) { // a JSON document, but not an object
			return nil, nil, &requestError{shipgate.FlagErrParse, "the request body must be a JSON object {\"context\": {...}}"}
		}
		return nil, nil, &requestError{shipgate.FlagErrParse, "the request body is not a JSON object {\"context\": {...}}: " + err.Error()}
	}
	switch c := req.Context.(type) {
	case nil:
		return nil, body, nil
	case map[string]any:
		return c, body, nil
	}
	return nil, nil, &requestError{shipgate.FlagErrInvalidContext, "context must be a JSON object"}
}

type success struct {
	Key      string       `json:"key"`
	Value    any          `json:"value"`
	Reason   string       `json:"reason"`
	Variant  string       `json:"variant"`
	Metadata flagMetadata `json:"metadata"`
}

// flagMetadata is the metadata of an answer: the service that declares
// the flag, and whether it is disabled (killed or mitigated).
type flagMetadata struct {
	Service  string `json:"service"`
	Disabled bool   `json:"disabled,omitempty"`
}

type failure struct {
	Key          string `json:"key"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

func answer(r flags.Result, service string) any {
	if r.ErrorCode != "" {
		return failure{Key: r.Key, ErrorCode: r.ErrorCode, ErrorDetails: r.ErrorMessage}
	}
	m := flagMetadata{Service: service}
	reason := r.Reason
	if reason == shipgate.ReasonDisabled {
		// A killed flag serves its safe variant to every caller. OpenFeature
		// SDKs read the reason DISABLED as "use the code default" (the Go
		// OFREP provider does), which would undo the safe variant; to them
		// a killed flag is what it is, one value for everyone: STATIC,
		// with metadata.disabled saying why.
		reason, m.Disabled = shipgate.ReasonStatic, true
	}
	return success{Key: r.Key, Value: r.Value, Reason: reason, Variant: r.Variant, Metadata: m}
}

func (h *Handler) evaluate(w http.ResponseWriter, r *http.Request) {
	env, ok := h.environment(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	ctx, _, bad := h.readContext(r)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, failure{Key: key, ErrorCode: bad.ErrorCode, ErrorDetails: bad.ErrorDetails})
		return
	}
	snap, err := h.Source.Flags(r.Context(), env)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	res, service := snap.Evaluate(key, ctx)
	status := http.StatusOK
	switch res.ErrorCode {
	case "":
	case shipgate.FlagErrNotFound:
		status = http.StatusNotFound
	default:
		status = http.StatusBadRequest
	}
	writeJSON(w, status, answer(res, service))
}

type bulkAnswer struct {
	Flags    []any          `json:"flags"`
	Metadata map[string]any `json:"metadata"`
}

func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	env, ok := h.environment(w, r)
	if !ok {
		return
	}
	ctx, raw, bad := h.readContext(r)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	snap, err := h.Source.Flags(r.Context(), env)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	tag := etag(snap, raw)
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	out := bulkAnswer{Flags: make([]any, 0, len(snap.served)),
		Metadata: map[string]any{"environment": env, "generation": snap.Generation}}
	for _, e := range snap.served {
		res, service := snap.Evaluate(e.name, ctx)
		out.Flags = append(out.Flags, answer(res, service))
	}
	writeJSON(w, http.StatusOK, out)
}

// etag names one bulk answer: the environment, its flag generation and
// the request body, which carries the context (the same flags evaluate
// the same for the same context, so an unchanged generation and context is
// an unchanged answer). The body is hashed as sent: a client that reorders
// its attributes gets a fresh answer, never a stale one.
func etag(s *Snapshot, ctx []byte) string {
	hs := sha256.New()
	hs.Write([]byte(s.Environment))
	hs.Write([]byte{0})
	hs.Write(ctx)
	sum := hs.Sum(nil)
	return `"` + strconv.FormatInt(s.Generation, 10) + "-" + hex.EncodeToString(sum[:12]) + `"`
}

func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errorDetails":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
