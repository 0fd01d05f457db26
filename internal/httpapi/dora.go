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
	doraMaxList = 1000
	doraMaxName = 256
)

// doraQuery reads ?service=&environment=&team=&since=30d&until=&bucket=week.
// The window is metricsWindow's.
func doraQuery(r *http.Request, now time.Time) (dora.Query, error) {
	v := r.URL.Query()
	q := dora.Query{Service: v.Get("service"), Environment: v.Get("environment"), Team: v.Get("team"), MaxList: doraMaxList}
	for name, s := range map[string]string{"service": q.Service, "environment": q.Environment, "team": q.Team} {
		if len(s) > doraMaxName {
			return q, shipgate.Errorf(shipgate.EINVALID, "%s is longer than %d bytes", name, doraMaxName)
		}
	}
	var err error
	if q.Since, q.Until, err = metricsWindow(v, now); err != nil {
		return q, err
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
