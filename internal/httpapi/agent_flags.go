package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) flagRecheck() time.Duration {
	if h.FlagRecheck > 0 {
		return h.FlagRecheck
	}
	return time.Second
}

// agentFlags serves an agent the live flags of one environment (every
// service's) so it can evaluate them for its supervised services. The
// ETag is "<generation>-<digest>"; with If-None-Match and wait, the call
// waits until the generation moves (304 if it never does).
func (h *Handler) agentFlags(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	env := r.URL.Query().Get("environment")
	if env == "" {
		return shipgate.Errorf(shipgate.EINVALID, "the environment query parameter is required: GET /api/v1/agent/flags?environment=NAME")
	}
	if err := shipgate.ValidateName("environment", env); err != nil {
		return err
	}
	if len(a.Envs) > 0 && !slices.Contains(a.Envs, env) {
		return shipgate.Errorf(shipgate.EFORBIDDEN, "agent %s may not read the flags of environment %s: its join token is scoped to %s", a.Name, env, strings.Join(a.Envs, ", "))
	}
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return shipgate.Errorf(shipgate.EINVALID, "wait %q is not a duration such as 30s", s)
		}
		wait = min(d, client.MaxAgentFlagsWait)
	}
	if h.stopWaits.Err() != nil {
		wait = 0
	}
	inm := r.Header.Get("If-None-Match")
	known, hasKnown := etagGeneration(inm)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		// Take the channel before reading, so a change committed between
		// the read and the wait still wakes it.
		changed := h.DB.FlagsChanged()
		var gen int64
		if hasKnown {
			err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
				var err error
				gen, err = tx.FlagGeneration(r.Context(), env)
				return err
			})
			if err != nil {
				return err
			}
		}
		if !hasKnown || gen != known {
			body, etag, err := h.envFlagsBody(r, env)
			if err != nil {
				return err
			}
			if etag != inm {
				w.Header().Set("ETag", etag)
				w.Header().Set("Cache-Control", "no-cache")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				w.Write(body)
				return nil
			}
		}
		tick := time.NewTimer(h.flagRecheck())
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			tick.Stop()
			return notModified(w, inm)
		case <-r.Context().Done():
			tick.Stop()
			return r.Context().Err()
		case <-h.stopWaits.Done():
			tick.Stop()
			return notModified(w, inm)
		}
		tick.Stop()
	}
}

func notModified(w http.ResponseWriter, etag string) error {
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusNotModified)
	return nil
}

// envFlagsBody is the JSON of env's live flags and its ETag.
func (h *Handler) envFlagsBody(r *http.Request, env string) ([]byte, string, error) {
	out := client.AgentFlags{Environment: env, Flags: []client.AgentFlag{}}
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		states, gen, err := tx.EnvFlags(r.Context(), env)
		out.Generation = gen
		for _, s := range states {
			out.Flags = append(out.Flags, client.AgentFlag{Service: s.Service, Flag: s.Flag})
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), fmt.Sprintf(`"%d-%s"`, out.Generation, hex.EncodeToString(sum[:8])), nil
}

// etagGeneration reads the generation of an ETag envFlagsBody made.
func etagGeneration(etag string) (int64, bool) {
	s, ok := strings.CutPrefix(etag, `"`)
	if !ok {
		return 0, false
	}
	s, _, ok = strings.Cut(s, "-")
	if !ok {
		return 0, false
	}
	g, err := strconv.ParseInt(s, 10, 64)
	return g, err == nil && g >= 0
}
