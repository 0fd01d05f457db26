package httpapi

import (
	"net/url"
	"time"

	"github.com/shipgate/shipgate"
)

// metricsWindow reads the window both metrics routes (DORA, gate KPIs)
// take: until, an RFC 3339 time (now by default), and since, an RFC 3339
// time or a period before until (30d, 12h, 90m; 30d by default). The
// window is at most shipgate.MaxKPIWindow long.
func metricsWindow(v url.Values, now time.Time) (since, until time.Time, err error) {
	until = now
	if s := v.Get("until"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return since, until, shipgate.Errorf(shipgate.EINVALID, "until=%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		until = t.UTC()
	}
	s := v.Get("since")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		since = t.UTC()
	} else {
		d, err := shipgate.ParseKPIWindow(s)
		if err != nil {
			return since, until, err
		}
		since = until.Add(-d)
	}
	if !since.Before(until) {
		return since, until, shipgate.Errorf(shipgate.EINVALID, "since (%s) must be before until (%s)", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	if until.Sub(since) > shipgate.MaxKPIWindow {
		return since, until, shipgate.Errorf(shipgate.EINVALID, "the window from %s to %s is longer than the longest, 366d", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return since, until, nil
}
