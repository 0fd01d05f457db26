package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/dora"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Bounds of a DORA report request.
const (
	doraDefaultWindow = 30 * 24 * time.Hour
	doraMaxWindow     = 366 * 24 * time.Hour
	doraMaxList       = 1000
	doraMaxName       = 256
)

// doraQuery reads ?service=&environment=&team=&since=30d&until=&bucket=week.
// since is an RFC 3339 time or a period before until (30d, 12h); until an
// RFC 3339 time, default now.
func doraQuery(r *http.Request, now time.Time) (dora.Query, error) {
	v := r.URL.Query()
	q := dora.Query{Service: v.Get("service"), Environment: v.Get("environment"), Team: v.Get("team"), MaxList: doraMaxList}
	for name, s := range map[string]string{"service": q.Service, "environment": q.Environment, "team": q.Team} {
		if len(s) > doraMaxName {
			return q, shipgate.Errorf(shipgate.EINVALID, "%s is longer than %d bytes", name, doraMaxName)
		}
	}
	q.Until = now
	if s := v.Get("until"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, shipgate.Errorf(shipgate.EINVALID, "until %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		q.Until = t.UTC()
	}
	q.Since = q.Until.Add(-doraDefaultWindow)
	if s := v.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			q.Since = t.UTC()
		} else if d, err := shipgate.ParseDuration(s); err == nil && d.Std() > 0 {
			q.Since = q.Until.Add(-d.Std())
		} else {
			return q, shipgate.Errorf(shipgate.EINVALID, "since %q is neither an RFC 3339 time nor a period such as 30d or 12h", s)
		}
	}
	if !q.Since.Before(q.Until) {
		return q, shipgate.Errorf(shipgate.EINVALID, "since (%s) must be before until (%s)", q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	}
	if q.Until.Sub(q.Since) > doraMaxWindow {
		return q, shipgate.Errorf(shipgate.EINVALID, "the window is longer than 366 days; ask for less")
	}
	b, ok := dora.ParseBucket(v.Get("bucket"))
	if !ok {
		return q, shipgate.Errorf(shipgate.EINVALID, "bucket %q is not day or week", v.Get("bucket"))
	}
	q.Bucket = b
	return q, nil
}

// doraMetrics reports the DORA metrics computed from the audit chain
// (docs/metrics.md).
func (h *Handler) doraMetrics(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	q, err := doraQuery(r, h.DB.Now())
	if err != nil {
		return err
	}
	rep, err := h.report(w, r, func(ctx context.Context) (any, error) {
		var rep dora.Report
		err := h.DB.View(ctx, func(tx *sqlstore.Tx) error {
			// A misspelt service, environment or team would read as "no
			// deployments"; refuse it as the gate KPIs do.
			if err := tx.CheckKPIFilter(ctx, shipgate.KPIFilter{Service: q.Service, Environment: q.Environment, Team: q.Team}); err != nil {
				return err
			}
			hist, err := tx.DORAHistory(ctx, q.Since, q.Until, sqlstore.DORAFilter{Service: q.Service, Environment: q.Environment})
			if err != nil {
				return err
			}
			rep = dora.Compute(hist, q)
			return nil
		})
		return rep, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
