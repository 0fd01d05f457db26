package client

import (
	"context"
	"net/url"
	"time"

	"github.com/shipgate/shipgate"
)

// DORAQuery selects a DORA report: empty fields take the server's
// defaults (every service and environment, the last 30 days, weekly).
type DORAQuery struct {
	Service, Environment, Team string
	// Since is an RFC 3339 time or a period before Until (30d, 12h).
	Since  string
	Until  *time.Time
	Bucket string
}

// DORAReport is the server's DORA report (docs/metrics.md).
type DORAReport = shipgate.DORAReport

// DORA returns the DORA metrics computed from the audit chain.
func (c *Client) DORA(ctx context.Context, q DORAQuery) (*DORAReport, error) {
	v := url.Values{}
	for k, s := range map[string]string{"service": q.Service, "environment": q.Environment, "team": q.Team, "since": q.Since, "bucket": q.Bucket} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Until != nil {
		v.Set("until", q.Until.UTC().Format(time.RFC3339))
	}
	var rep DORAReport
	if err := c.do(ctx, "GET", "/metrics/dora", v, nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
