package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
)

// CreateRelease prepares a release.
func (c *Client) CreateRelease(ctx context.Context, req CreateReleaseRequest) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases", nil, req, &out)
}

// Release returns a release with approvals, jobs and timeline.
func (c *Client) Release(ctx context.Context, id int64) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "GET", "/releases/"+itoa(id), nil, nil, &out)
}

// Releases lists releases, newest first.
func (c *Client) Releases(ctx context.Context, f shipgate.ReleaseFilter) ([]*shipgate.Release, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("service", f.Service)
	set("environment", f.Environment)
	set("version", f.Version)
	set("created_by", f.CreatedBy)
	if len(f.States) > 0 {
		s := make([]string, len(f.States))
		for i, st := range f.States {
			s[i] = string(st)
		}
		q.Set("state", strings.Join(s, ","))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.BeforeID > 0 {
		q.Set("before", itoa(f.BeforeID))
	}
	var out []*shipgate.Release
	return out, c.do(ctx, "GET", "/releases", q, nil, &out)
}

// ReleasesAwaitingMe lists, newest first, the pending releases the caller
// may approve now and has not decided yet (at most limit; 0: the
// server's default).
func (c *Client) ReleasesAwaitingMe(ctx context.Context, limit int) ([]*shipgate.Release, error) {
	q := url.Values{"awaiting": {"me"}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []*shipgate.Release
	return out, c.do(ctx, "GET", "/releases", q, nil, &out)
}

// CompareRelease says what release id changes against the release that
// runs in its environment now.
func (c *Client) CompareRelease(ctx context.Context, id int64) (*ReleaseComparison, error) {
	var out ReleaseComparison
	return &out, c.do(ctx, "GET", "/releases/"+itoa(id)+"/compare", nil, nil, &out)
}

// Approve approves release id, whose digest the caller has seen.
func (c *Client) Approve(ctx context.Context, id int64, digest, comment string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/approve", nil, DecisionRequest{Digest: digest, Comment: comment}, &out)
}

// Reject rejects release id.
func (c *Client) Reject(ctx context.Context, id int64, digest, comment string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/reject", nil, DecisionRequest{Digest: digest, Comment: comment}, &out)
}

// Cancel cancels release id.
func (c *Client) Cancel(ctx context.Context, id int64, reason string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/cancel", nil, CancelRequest{Reason: reason}, &out)
}

// Rerun starts a new run of failed release id.
func (c *Client) Rerun(ctx context.Context, id int64) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/rerun", nil, struct{}{}, &out)
}

// Logs returns log chunks of a release's run after cursor. run 0 means the
// current run; job "" means every job.
func (c *Client) Logs(ctx context.Context, id int64, run int, job string, after int64) (*Logs, error) {
	q := url.Values{}
	if run > 0 {
		q.Set("run", strconv.Itoa(run))
	}
	if job != "" {
		q.Set("job", job)
	}
	if after > 0 {
		q.Set("after", itoa(after))
	}
	var out Logs
	return &out, c.do(ctx, "GET", "/releases/"+itoa(id)+"/logs", q, nil, &out)
}

// Rollback rolls an environment back by hand.
func (c *Client) Rollback(ctx context.Context, req RollbackRequest) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/rollbacks", nil, req, &out)
}

// HoldRollback stops a pending rollback of release id from firing on its
// own; reason (may be empty) is recorded in the audit log.
func (c *Client) HoldRollback(ctx context.Context, id int64, reason string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/rollback/hold", nil, RollbackActionRequest{Reason: reason}, &out)
}

// RollbackNow fires a pending or held rollback of release id at once;
// reason (may be empty) is recorded in the audit log.
func (c *Client) RollbackNow(ctx context.Context, id int64, reason string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/rollback/now", nil, RollbackActionRequest{Reason: reason}, &out)
}

// CallOffRollback ends a pending or held rollback of release id without
// rolling back: the release stays failed and nothing is deployed. reason
// is required and recorded in the audit log.
func (c *Client) CallOffRollback(ctx context.Context, id int64, reason string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/rollback/call-off", nil, RollbackCallOffRequest{Reason: reason}, &out)
}

// Promote continues the rollout of release id that is paused for a person
// (a pause step without a duration, or an inconclusive analysis).
func (c *Client) Promote(ctx context.Context, id int64, comment string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", "/releases/"+itoa(id)+"/promote", nil, PromoteRequest{Comment: comment}, &out)
}

// RolloutHistory returns the history of a rollout of release id: the
// rollout of job (the first rollout job when ""), attempt (its latest when
// 0), in run (the current run when 0), with about points points (all when
// 0; points that mark a change are always there).
func (c *Client) RolloutHistory(ctx context.Context, id int64, job string, attempt, run, points int) (*shipgate.RolloutHistory, error) {
	q := url.Values{}
	if points > 0 {
		q.Set("points", strconv.Itoa(points))
	}
	if job != "" {
		q.Set("job", job)
	}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	if run > 0 {
		q.Set("run", strconv.Itoa(run))
	}
	var out shipgate.RolloutHistory
	return &out, c.do(ctx, "GET", "/releases/"+itoa(id)+"/rollouts/history", q, nil, &out)
}
