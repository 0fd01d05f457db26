package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/shipgate/shipgate"
)

// FlagView is one live flag with its recent changes (newest first, at
// most 50) and the changes waiting for approval.
type FlagView struct {
	Flag    shipgate.FlagState    `json:"flag"`
	Changes []shipgate.FlagChange `json:"changes"`
	Pending []shipgate.FlagChange `json:"pending"`
}

// FlagChangeRequest asks for a change of one flag: op set (Flag is the
// whole new definition), enable, disable, or rollout (Rollout is the
// flag's new percentage rollout; nil clears it). Reason is required.
type FlagChangeRequest struct {
	Op      shipgate.FlagChangeOp `json:"op"`
	Reason  string                `json:"reason"`
	Flag    *shipgate.Flag        `json:"flag,omitempty"`
	Rollout *shipgate.FlagRollout `json:"rollout,omitempty"`
}

// FlagKillRequest says why flags are killed.
type FlagKillRequest struct {
	Reason string `json:"reason"`
}

// FlagDecisionRequest approves or rejects a pending flag change.
type FlagDecisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// FlagChangeQuery selects flag changes; zero fields match everything.
type FlagChangeQuery struct {
	Service, Environment, Key string
	State                     shipgate.FlagChangeState
	ReleaseID                 int64
}

func flagPath(service, env, key string) string {
	return "/flags/" + url.PathEscape(service) + "/" + url.PathEscape(env) + "/" + url.PathEscape(key)
}

// ListFlags lists the live flags; empty service or env means every one.
func (c *Client) ListFlags(ctx context.Context, service, env string) ([]shipgate.FlagState, error) {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	if env != "" {
		q.Set("environment", env)
	}
	var out []shipgate.FlagState
	return out, c.do(ctx, "GET", "/flags", q, nil, &out)
}

// Flag returns one live flag with its recent and pending changes.
func (c *Client) Flag(ctx context.Context, service, env, key string) (*FlagView, error) {
	var out FlagView
	return &out, c.do(ctx, "GET", flagPath(service, env, key), nil, nil, &out)
}

// ListFlagChanges lists flag changes, newest first.
func (c *Client) ListFlagChanges(ctx context.Context, fq FlagChangeQuery) ([]shipgate.FlagChange, error) {
	q := url.Values{}
	for k, v := range map[string]string{"service": fq.Service, "environment": fq.Environment, "key": fq.Key, "state": string(fq.State)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if fq.ReleaseID != 0 {
		q.Set("release", strconv.FormatInt(fq.ReleaseID, 10))
	}
	var out []shipgate.FlagChange
	return out, c.do(ctx, "GET", "/flag-changes", q, nil, &out)
}

// ChangeFlag asks for a change of a flag. The change is applied at once
// (State applied) or, where the environment requires approvals for flag
// changes, waits for them (State pending).
func (c *Client) ChangeFlag(ctx context.Context, service, env, key string, req FlagChangeRequest) (*shipgate.FlagChange, error) {
	var out shipgate.FlagChange
	return &out, c.do(ctx, "POST", flagPath(service, env, key), nil, req, &out)
}

// KillFlag turns a flag to its safe variant at once, without approval.
func (c *Client) KillFlag(ctx context.Context, service, env, key, reason string) (*shipgate.FlagChange, error) {
	var out shipgate.FlagChange
	return &out, c.do(ctx, "POST", flagPath(service, env, key)+"/kill", nil, FlagKillRequest{Reason: reason}, &out)
}

// KillReleaseFlags kills every flag release id declares it introduces, in
// the release's environment.
func (c *Client) KillReleaseFlags(ctx context.Context, id int64, reason string) ([]shipgate.FlagChange, error) {
	var out []shipgate.FlagChange
	return out, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/flags/kill", id), nil, FlagKillRequest{Reason: reason}, &out)
}

// ApproveFlagChange approves pending flag change id; it applies once it
// has the approvals its environment requires.
func (c *Client) ApproveFlagChange(ctx context.Context, id int64, comment string) (*shipgate.FlagChange, error) {
	var out shipgate.FlagChange
	return &out, c.do(ctx, "POST", fmt.Sprintf("/flag-changes/%d/approve", id), nil, FlagDecisionRequest{Comment: comment}, &out)
}

// RejectFlagChange rejects pending flag change id.
func (c *Client) RejectFlagChange(ctx context.Context, id int64, comment string) (*shipgate.FlagChange, error) {
	var out shipgate.FlagChange
	return &out, c.do(ctx, "POST", fmt.Sprintf("/flag-changes/%d/reject", id), nil, FlagDecisionRequest{Comment: comment}, &out)
}
