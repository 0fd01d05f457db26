package client

import (
	"context"
	"net/url"
	"time"

	"github.com/shipgate/shipgate"
)

// EnvironmentStatus is one environment of a service as it stands: what
// runs there now, its latest releases and the rollbacks waiting there.
type EnvironmentStatus struct {
	Name string `json:"name"`
	// Current is the release running now: the newest that ended succeeded,
	// or failed other than a failed rollback (the release a rollback would
	// replace); absent before the first release ends there.
	Current *shipgate.Release `json:"current,omitempty"`
	// Recent are the environment's latest releases, newest first.
	Recent []*shipgate.Release `json:"recent"`
	// Rollbacks are the pending or held rollbacks of releases here.
	Rollbacks []*shipgate.Rollback `json:"rollbacks"`
}

// ServiceEnvironments returns each environment of a service with the
// version running there now, its latest releases and open rollbacks.
func (c *Client) ServiceEnvironments(ctx context.Context, name string) ([]EnvironmentStatus, error) {
	var out []EnvironmentStatus
	return out, c.do(ctx, "GET", "/services/"+url.PathEscape(name)+"/environments", nil, nil, &out)
}

// Runners is what the runners are doing: the server's built-in runner, if
// it runs one, and every job attempt a runner holds now.
type Runners struct {
	Local   *shipgate.RunnerInfo `json:"local,omitempty"`
	Running []RunningJob         `json:"running"`
}

// RunningJob is one job attempt a runner (an agent, or the built-in
// runner) holds now.
type RunningJob struct {
	Runner      string     `json:"runner"`
	ReleaseID   int64      `json:"release_id"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Version     string     `json:"version"`
	Job         string     `json:"job"`
	Attempt     int        `json:"attempt"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	LeaseUntil  *time.Time `json:"lease_until,omitempty"`
}

// Runners lists what every runner is running now.
func (c *Client) Runners(ctx context.Context) (*Runners, error) {
	var out Runners
	return &out, c.do(ctx, "GET", "/runners", nil, nil, &out)
}
