package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/shipgate/shipgate"
)

// AgentFlags is the live flag definitions of one environment, every
// service's, as an agent keeps them to serve its supervised services
// (GET /api/v1/agent/flags).
type AgentFlags struct {
	Environment string `json:"environment"`
	// Generation moves with every change of a flag of the environment.
	Generation int64       `json:"generation"`
	Flags      []AgentFlag `json:"flags"`
	// ETag is the response's ETag, to send back as If-None-Match; it is
	// not part of the body.
	ETag string `json:"-"`
}

// AgentFlag is one live flag of a service.
type AgentFlag struct {
	Service string        `json:"service"`
	Flag    shipgate.Flag `json:"flag"`
}

// MaxAgentFlagsWait bounds the long poll of AgentFlags.
const MaxAgentFlagsWait = 60 * time.Second

// Flags returns the live flags of env. With etag (the ETag of a previous
// answer) it returns (nil, nil) while they are unchanged, waiting up to
// wait for a change first: a flag flip reaches the agent as soon as it
// commits, without polling the server in a loop.
func (a *Agent) Flags(ctx context.Context, env, etag string, wait time.Duration) (*AgentFlags, error) {
	wait = min(wait, MaxAgentFlagsWait)
	ctx, cancel := a.timeout(ctx, wait)
	defer cancel()
	q := url.Values{"environment": {env}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, "GET", a.c.BaseURL+"/api/v1/agent/flags?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.c.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", a.c.UserAgent)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := a.c.HTTPClient.Do(req)
	if err != nil {
		if te := transportError(a.c.BaseURL, err); te != nil {
			return nil, te
		}
		return nil, fmt.Errorf("cannot reach shipgate server at %s: %w", RedactURL(a.c.BaseURL), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, decodeError(resp)
	}
	var out AgentFlags
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
		return nil, notShipgate(a.c.BaseURL, resp.StatusCode, resp.Header.Get("Content-Type"), fmt.Errorf("decode the flags of %s: %w", env, err))
	}
	out.ETag = resp.Header.Get("ETag")
	return &out, nil
}
