package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
)

// RegisterAgent joins an agent using c.Token as the agent join token.
func (c *Client) RegisterAgent(ctx context.Context, req RegisterAgentRequest) (*AgentRegistration, error) {
	var out AgentRegistration
	return &out, c.do(ctx, "POST", "/agent/register", nil, req, &out)
}

// Agents lists agents with their state.
func (c *Client) Agents(ctx context.Context) ([]*shipgate.Agent, error) {
	var out []*shipgate.Agent
	return out, c.do(ctx, "GET", "/agents", nil, nil, &out)
}

// DrainAgent stops (or, with draining false, resumes) handing jobs to an
// agent.
func (c *Client) DrainAgent(ctx context.Context, name string, draining bool) (*shipgate.Agent, error) {
	var out shipgate.Agent
	return &out, c.do(ctx, "POST", "/agents/"+url.PathEscape(name)+"/drain", nil, DrainRequest{Draining: draining}, &out)
}

// AgentTokens lists agent join tokens.
func (c *Client) AgentTokens(ctx context.Context) ([]shipgate.AgentToken, error) {
	var out []shipgate.AgentToken
	return out, c.do(ctx, "GET", "/agent-tokens", nil, nil, &out)
}

// CreateAgentToken creates an unscoped agent join token that never
// expires; the secret is in the result.
func (c *Client) CreateAgentToken(ctx context.Context, name string) (*NewAgentToken, error) {
	return c.CreateScopedAgentToken(ctx, CreateAgentTokenRequest{Name: name})
}

// CreateScopedAgentToken creates an agent join token with a label scope,
// environments and an expiry; the secret is in the result.
func (c *Client) CreateScopedAgentToken(ctx context.Context, req CreateAgentTokenRequest) (*NewAgentToken, error) {
	var out NewAgentToken
	return &out, c.do(ctx, "POST", "/agent-tokens", nil, req, &out)
}

// RevokeAgentToken revokes a join token; agents that joined with it are
// refused from then on.
func (c *Client) RevokeAgentToken(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", "/agent-tokens/"+itoa(id), nil, nil, nil)
}

// Agent speaks the agent protocol as one registered agent. It is the
// runner's Coordinator over HTTP: the runner name arguments are ignored,
// because the server knows the agent by its secret.
type Agent struct {
	c *Client
	// CallTimeout bounds each call but a claim, which waits longer.
	CallTimeout time.Duration
}

// NewAgent returns the protocol client for an agent with this secret.
func NewAgent(baseURL, secret string) *Agent {
	return New(baseURL, "").AsAgent(secret)
}

// AsAgent returns the protocol client for an agent with this secret, on
// c's server and over c's HTTP client (its TLS settings).
func (c *Client) AsAgent(secret string) *Agent {
	ac := *c
	ac.Token, ac.UserAgent = secret, "shipgate-agent"
	return &Agent{c: &ac, CallTimeout: 30 * time.Second}
}

func (a *Agent) timeout(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.CallTimeout+extra)
}

// Claim asks for a job, long-polling up to req.Wait.
func (a *Agent) Claim(ctx context.Context, req shipgate.ClaimRequest) (*shipgate.Assignment, bool, error) {
	ctx, cancel := a.timeout(ctx, req.Wait)
	defer cancel()
	var out ClaimResponse
	err := a.c.do(ctx, "POST", "/agent/claim", nil, ClaimRequest{ClaimID: req.ClaimID, WaitMillis: req.Wait.Milliseconds()}, &out)
	return out.Assignment, out.Assignment != nil, err
}

// Heartbeat extends the lease of an attempt.
func (a *Agent) Heartbeat(ctx context.Context, _ string, key shipgate.AttemptKey) (shipgate.HeartbeatReply, error) {
	ctx, cancel := a.timeout(ctx, 0)
	defer cancel()
	var out shipgate.HeartbeatReply
	return out, a.c.do(ctx, "POST", "/agent/heartbeat", nil, AttemptRequest{Key: key}, &out)
}

// AppendLogs ships log chunks of an attempt.
func (a *Agent) AppendLogs(ctx context.Context, _ string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error {
	ctx, cancel := a.timeout(ctx, 0)
	defer cancel()
	return a.c.do(ctx, "POST", "/agent/logs", nil, LogsRequest{Key: key, Chunks: chunks}, nil)
}

// Finish reports the outcome of an attempt.
func (a *Agent) Finish(ctx context.Context, _ string, key shipgate.AttemptKey, out shipgate.JobOutcome) error {
	ctx, cancel := a.timeout(ctx, 0)
	defer cancel()
	return a.c.do(ctx, "POST", "/agent/finish", nil, FinishRequest{Key: key, Outcome: out}, nil)
}

// Held lists the attempts the server thinks this agent holds.
func (a *Agent) Held(ctx context.Context, _ string) ([]shipgate.HeldAttempt, error) {
	ctx, cancel := a.timeout(ctx, 0)
	defer cancel()
	var out []shipgate.HeldAttempt
	return out, a.c.do(ctx, "GET", "/agent/held", nil, nil, &out)
}

// Artifact downloads the artifact of a held attempt from the server.
func (a *Agent) Artifact(ctx context.Context, _ string, key shipgate.AttemptKey) (io.ReadCloser, error) {
	q := url.Values{"release": {itoa(key.ReleaseID)}, "run": {strconv.Itoa(key.Run)}, "job": {key.Job}, "attempt": {strconv.Itoa(key.Attempt)}}
	req, err := http.NewRequestWithContext(ctx, "GET", a.c.BaseURL+"/api/v1/agent/artifact?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.c.Token)
	resp, err := a.c.HTTPClient.Do(req)
	if err != nil {
		if te := transportError(a.c.BaseURL, err); te != nil {
			return nil, te
		}
		return nil, fmt.Errorf("cannot reach shipgate server at %s: %w", RedactURL(a.c.BaseURL), err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp.Body, nil
}

// Probes reports health-check probes of an attempt.
func (a *Agent) Probes(ctx context.Context, _ string, key shipgate.AttemptKey, probes []shipgate.ProbeResult, recovered bool) (shipgate.ProbeReply, error) {
	ctx, cancel := a.timeout(ctx, 0)
	defer cancel()
	var out shipgate.ProbeReply
	return out, a.c.do(ctx, "POST", "/agent/probes", nil, ProbesRequest{Key: key, Probes: probes, Recovered: recovered}, &out)
}

// Rollout reports the progress of a rollout and returns the promotions
// people granted it.
func (a *Agent) Rollout(ctx context.Context, _ string, key shipgate.AttemptKey, status shipgate.RolloutStatus) (shipgate.RolloutReply, error) {
	ctx, cancel := a.timeout(ctx, 0)
	defer cancel()
	out := shipgate.RolloutReply{PromotedThrough: -1}
	return out, a.c.do(ctx, "POST", "/agent/rollout", nil, RolloutRequest{Key: key, Status: status}, &out)
}
