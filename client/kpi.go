package client

import (
	"context"
	"net/url"

	"github.com/shipgate/shipgate"
)

// KPIQuery selects what GateKPIs covers. Since is a window such as "30d"
// (the server's default when empty) or an RFC 3339 time; Until an RFC
// 3339 time (now when empty).
type KPIQuery struct {
	Service, Environment, Team string
	Since, Until               string
}

func (q KPIQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"service": q.Service, "environment": q.Environment, "team": q.Team, "since": q.Since, "until": q.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// GateKPIs returns the gate and rollout KPIs of a window.
func (c *Client) GateKPIs(ctx context.Context, q KPIQuery) (*shipgate.GateKPIs, error) {
	var out shipgate.GateKPIs
	return &out, c.do(ctx, "GET", "/metrics/gates", q.values(), nil, &out)
}
