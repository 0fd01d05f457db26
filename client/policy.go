package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/shipgate/shipgate"
)

// PolicyFile is one Rego module sent to the server: to apply, or as a
// proposed policy for a dry run.
type PolicyFile struct {
	Filename string `json:"filename"`
	Source   string `json:"source"`
}

// PolicyApplyResult says which revision a policy file became; Changed is
// false when it was the current revision already.
type PolicyApplyResult struct {
	Revision shipgate.PolicyRevision `json:"revision"`
	Changed  bool                    `json:"changed"`
}

// PolicyReplay is a recorded decision evaluated again: Match is whether
// the replayed result's canonical JSON equals the recorded one byte for
// byte.
type PolicyReplay struct {
	Decision shipgate.PolicyDecision `json:"decision"`
	Recorded string                  `json:"recorded"`
	Replayed string                  `json:"replayed"`
	Match    bool                    `json:"match"`
}

// PolicyEvalRequest asks for a dry run: the releases named (Releases, or
// the ids From..To, or those created since Since) judged at Point by
// their environments' policies, with Proposed modules in place of (or
// beside) the stored ones. Nothing is recorded.
type PolicyEvalRequest struct {
	Point    string       `json:"point"`
	Releases []int64      `json:"releases,omitempty"`
	From     int64        `json:"from,omitempty"`
	To       int64        `json:"to,omitempty"`
	Since    string       `json:"since,omitempty"` // RFC 3339
	Proposed []PolicyFile `json:"proposed,omitempty"`
}

// PolicyEvalResult is a dry run's verdict on each release.
type PolicyEvalResult struct {
	Point   string                    `json:"point"`
	Results []shipgate.PolicyDecision `json:"results"`
	Blocked int                       `json:"blocked"`
}

// ApplyPolicy stores a policy file as the next revision of its policy
// (named by its package line, shipgate.<name>).
func (c *Client) ApplyPolicy(ctx context.Context, f PolicyFile) (*PolicyApplyResult, error) {
	var out PolicyApplyResult
	return &out, c.do(ctx, "POST", "/policies", nil, f, &out)
}

// Policies lists the current revision of every policy.
func (c *Client) Policies(ctx context.Context) ([]shipgate.PolicyRevision, error) {
	var out []shipgate.PolicyRevision
	return out, c.do(ctx, "GET", "/policies", nil, nil, &out)
}

// Policy returns revision rev of a policy with its source; 0 is the
// current one.
func (c *Client) Policy(ctx context.Context, name string, rev int) (*shipgate.PolicyRevision, error) {
	var q url.Values
	if rev != 0 {
		q = url.Values{"revision": {strconv.Itoa(rev)}}
	}
	var out shipgate.PolicyRevision
	return &out, c.do(ctx, "GET", "/policies/"+url.PathEscape(name), q, nil, &out)
}

// PolicyDecisions lists recorded decisions (without their inputs).
func (c *Client) PolicyDecisions(ctx context.Context, f shipgate.PolicyDecisionFilter) ([]shipgate.PolicyDecision, error) {
	q := url.Values{}
	if f.ReleaseID != 0 {
		q.Set("release", itoa(f.ReleaseID))
	}
	if f.Point != "" {
		q.Set("point", f.Point)
	}
	if f.Result != "" {
		q.Set("result", f.Result)
	}
	if f.AfterID != 0 {
		q.Set("after", itoa(f.AfterID))
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []shipgate.PolicyDecision
	return out, c.do(ctx, "GET", "/policy-decisions", q, nil, &out)
}

// PolicyDecision returns one decision with its input.
func (c *Client) PolicyDecision(ctx context.Context, id int64) (*shipgate.PolicyDecision, error) {
	var out shipgate.PolicyDecision
	return &out, c.do(ctx, "GET", "/policy-decisions/"+itoa(id), nil, nil, &out)
}

// ReplayPolicyDecision evaluates a recorded decision again under the
// bundle it recorded.
func (c *Client) ReplayPolicyDecision(ctx context.Context, id int64) (*PolicyReplay, error) {
	var out PolicyReplay
	return &out, c.do(ctx, "GET", "/policy-decisions/"+itoa(id)+"/replay", nil, nil, &out)
}

// EvalPolicies runs a dry run.
func (c *Client) EvalPolicies(ctx context.Context, req PolicyEvalRequest) (*PolicyEvalResult, error) {
	var out PolicyEvalResult
	return &out, c.do(ctx, "POST", "/policy-eval", nil, req, &out)
}
