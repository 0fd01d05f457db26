package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// maxClaimWait bounds how long a claim long-polls.
const maxClaimWait = 60 * time.Second

func (h *Handler) agentRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/api/v1/agents", Perm: shipgate.PermRead, Summary: "List agents", handle: h.listAgents},
		{Method: "POST", Path: "/api/v1/agents/{name}/drain", Perm: shipgate.PermAdmin, Summary: "Drain an agent or take it back", handle: h.drainAgent},
		{Method: "GET", Path: "/api/v1/agent-tokens", Perm: shipgate.PermAdmin, Summary: "List agent join tokens", handle: h.listAgentTokens},
		{Method: "POST", Path: "/api/v1/agent-tokens", Perm: shipgate.PermAdmin, Summary: "Create an agent join token", handle: h.createAgentToken},
		{Method: "DELETE", Path: "/api/v1/agent-tokens/{id}", Perm: shipgate.PermAdmin, Summary: "Revoke an agent join token", handle: h.revokeAgentToken},

		{Method: "POST", Path: "/api/v1/agent/register", Perm: shipgate.PermAgentJoin, Summary: "Register an agent with a join token", join: h.registerAgent},
		{Method: "POST", Path: "/api/v1/agent/claim", Perm: shipgate.PermAgent, Summary: "Claim a job (long poll)", agent: h.agentClaim},
		{Method: "POST", Path: "/api/v1/agent/heartbeat", Perm: shipgate.PermAgent, Summary: "Extend an attempt's lease", agent: h.agentHeartbeat},
		{Method: "POST", Path: "/api/v1/agent/logs", Perm: shipgate.PermAgent, Summary: "Append log chunks of an attempt", agent: h.agentLogs},
		{Method: "POST", Path: "/api/v1/agent/finish", Perm: shipgate.PermAgent, Summary: "Report an attempt's outcome", agent: h.agentFinish},
		{Method: "POST", Path: "/api/v1/agent/probes", Perm: shipgate.PermAgent, Summary: "Report health-check probes of an attempt", agent: h.agentProbes},
		{Method: "POST", Path: "/api/v1/agent/rollout", Perm: shipgate.PermAgent, Summary: "Report the progress of an attempt's rollout", agent: h.agentRollout},
		{Method: "GET", Path: "/api/v1/agent/held", Perm: shipgate.PermAgent, Summary: "List the attempts this agent holds", agent: h.agentHeld},
		{Method: "GET", Path: "/api/v1/agent/artifact", Perm: shipgate.PermAgent, Summary: "Download the artifact of a held attempt", agent: h.agentArtifact},
		{Method: "GET", Path: "/api/v1/agent/flags", Perm: shipgate.PermAgent, Summary: "Read the live flags of an environment (long poll)", agent: h.agentFlags},
	}
}

func (h *Handler) lostAfter() time.Duration {
	if h.AgentLostAfter > 0 {
		return h.AgentLostAfter
	}
	return 45 * time.Second
}

// authenticateAgent checks an agent's secret and records the contact (at
// most every few seconds: it is bookkeeping, not worth a write per call).
func (h *Handler) authenticateAgent(r *http.Request) (*shipgate.Agent, error) {
	secret, ok := bearer(r)
	if !ok {
		return nil, shipgate.Errorf(shipgate.EUNAUTHORIZED, "missing agent credentials: send \"Authorization: Bearer <agent secret>\"")
	}
	a, err := h.DB.AuthenticateAgent(r.Context(), secret)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if last, ok := h.seen.Load(a.ID); !ok || now.Sub(last.(time.Time)) > 5*time.Second {
		h.seen.Store(a.ID, now)
		if err := h.DB.TouchAgent(r.Context(), a.ID); err != nil {
			h.Logger.Warn("record agent contact", "err", err)
		}
	}
	return a, nil
}

func (h *Handler) registerAgent(w http.ResponseWriter, r *http.Request, token string) error {
	if token == "" {
		return shipgate.Errorf(shipgate.EUNAUTHORIZED, "missing agent token: send \"Authorization: Bearer <agent token>\"")
	}
	var req client.RegisterAgentRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	a := &shipgate.Agent{Name: req.Name, Labels: req.Labels, Version: req.Version, Hostname: req.Hostname, InstanceID: req.InstanceID}
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	secret := shipgate.NewSecret(shipgate.AgentSecretPrefix)
	join := sqlstore.Join{Token: token, Agent: a, Secret: secret, Current: req.CurrentSecret, LostAfter: h.lostAfter()}
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error { return tx.RegisterAgent(r.Context(), join) })
	var refused *sqlstore.JoinRefused
	if errors.As(err, &refused) {
		return h.refuseJoin(w, r, refused, a)
	} else if err != nil {
		return err
	}
	a.State = a.StateAt(time.Now(), h.lostAfter())
	writeJSON(w, http.StatusOK, client.AgentRegistration{Agent: a, Secret: secret})
	return nil
}

// refuseJoin answers a registration its join token's rules refused (403,
// or 409 for a live agent's name) and audits it in a transaction of its
// own: the registration's was rolled back, and the attempt must not be
// lost with it. It is counted like every other refusal.
func (h *Handler) refuseJoin(w http.ResponseWriter, r *http.Request, refused *sqlstore.JoinRefused, a *shipgate.Agent) error {
	code, msg := shipgate.ErrorCode(refused), shipgate.ErrorMessage(refused)
	k := refusalKey{action: shipgate.ActionAgentJoinRefused, actor: "agent-token/" + itoa(refused.TokenID), route: r.Pattern, subject: shipgate.AgentSubject(a.Name), status: statusOf(code)}
	extra := map[string]any{"token_id": refused.TokenID, "name": a.Name, "labels": a.Labels, "hostname": clip(a.Hostname, 256)}
	if err := h.countRefusal(r, k, msg, extra); err != nil {
		// A refusal stays a refusal; its count is written later.
		h.Logger.Error("audit a refused agent registration; counted to write later", "err", err)
	}
	writeJSON(w, statusOf(code), map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return nil
}

func (h *Handler) agentClaim(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	var req client.ClaimRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	wait := min(time.Duration(req.WaitMillis)*time.Millisecond, maxClaimWait)
	if a.Draining {
		// A draining agent finishes what it has and gets nothing new; it
		// still waits, so it does not spin.
		select {
		case <-r.Context().Done():
		case <-h.stopWaits.Done():
		case <-time.After(wait):
		}
		writeJSON(w, http.StatusOK, client.ClaimResponse{Draining: true})
		return nil
	}
	if h.stopWaits.Err() != nil {
		wait = 0 // shutting down: answer at once
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.stopWaits, cancel)()
	asg, _, err := h.Dispatcher.Claim(ctx, shipgate.ClaimRequest{Runner: a.Info(), ClaimID: req.ClaimID, Wait: wait})
	if err != nil && h.stopWaits.Err() != nil && r.Context().Err() == nil {
		asg, err = nil, nil // the wait was ended by the shutdown: no work, as after a timeout
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, client.ClaimResponse{Assignment: asg})
	return nil
}

func (h *Handler) agentHeartbeat(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	var req client.AttemptRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	reply, err := h.Dispatcher.Heartbeat(r.Context(), a.Name, req.Key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

func (h *Handler) agentLogs(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	var req client.LogsRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := h.Dispatcher.AppendLogs(r.Context(), a.Name, req.Key, req.Chunks); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": len(req.Chunks)})
	return nil
}

func (h *Handler) agentFinish(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	var req client.FinishRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := h.Dispatcher.Finish(r.Context(), a.Name, req.Key, req.Outcome); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"recorded": true})
	return nil
}

func (h *Handler) agentProbes(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	var req client.ProbesRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Probes) > 1000 {
		return shipgate.Errorf(shipgate.ETOOLARGE, "at most 1000 probes per report")
	}
	reply, err := h.Dispatcher.Probes(r.Context(), a.Name, req.Key, req.Probes, req.Recovered)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

func (h *Handler) agentHeld(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	held, err := h.Dispatcher.Held(r.Context(), a.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, held)
	return nil
}

// attemptQuery reads the attempt an agent route names in its query:
// release, run, job and attempt.
func attemptQuery(r *http.Request) (shipgate.AttemptKey, error) {
	key := shipgate.AttemptKey{Job: r.URL.Query().Get("job")}
	var err error
	if key.ReleaseID, err = queryInt(r, "release"); err != nil {
		return key, err
	}
	run, err := queryInt(r, "run")
	if err != nil {
		return key, err
	}
	attempt, err := queryInt(r, "attempt")
	if err != nil {
		return key, err
	}
	key.Run, key.Attempt = int(run), int(attempt)
	return key, nil
}

func (h *Handler) agentArtifact(w http.ResponseWriter, r *http.Request, a *shipgate.Agent) error {
	key, err := attemptQuery(r)
	if err != nil {
		return err
	}
	f, err := h.Dispatcher.Artifact(r.Context(), a.Name, key)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if s, ok := f.(interface{ Size() int64 }); ok {
		// A transfer cut short is then an error for the agent, not a
		// shorter artifact.
		w.Header().Set("Content-Length", strconv.FormatInt(s.Size(), 10))
	}
	if _, err = io.Copy(w, f); err != nil {
		h.Logger.Warn("artifact download interrupted", "agent", a.Name, "key", key, "err", err)
		// The bytes changed while being sent, or the agent went away:
		// cut the connection rather than end the response normally.
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (h *Handler) listAgents(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []*shipgate.Agent
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListAgents(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, a := range out {
		a.State = a.StateAt(now, h.lostAfter())
		if !u.Can(shipgate.PermAdmin) {
			a.InstanceID = "" // not a credential, but nobody else's business
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) drainAgent(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.DrainRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var a *shipgate.Agent
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		a, err = tx.SetAgentDraining(r.Context(), u.Name, r.PathValue("name"), req.Draining)
		return err
	})
	if err != nil {
		return err
	}
	a.State = a.StateAt(time.Now(), h.lostAfter())
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (h *Handler) listAgentTokens(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []shipgate.AgentToken
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListAgentTokens(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createAgentToken(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.CreateAgentTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	secret := shipgate.NewSecret(shipgate.AgentTokenPrefix)
	var t *shipgate.AgentToken
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		t, err = tx.CreateAgentToken(r.Context(), u.Name, sqlstore.NewAgentToken{Name: req.Name, Scope: req.Scope, Envs: req.Envs, ExpiresIn: req.ExpiresIn.Std()}, secret)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, client.NewAgentToken{Token: t, Secret: secret})
	return nil
}

func (h *Handler) revokeAgentToken(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error { return tx.RevokeAgentToken(r.Context(), u.Name, id) }); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": id})
	return nil
}
