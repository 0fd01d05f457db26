package httpapi

import (
	"net/http"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/kpi"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Gate and rollout KPIs (docs/metrics.md "Gate and rollout KPIs").

// kpiMaxList bounds each list of release ids in an answer, as doraMaxList
// does for DORA: a year of 100,000 releases would otherwise be 4 MB of
// ids per request, to anyone who may read.
const kpiMaxList = 1000

func (h *Handler) kpiRoutes() []Route {
	return []Route{
		route("GET", "/api/v1/metrics/gates", shipgate.PermRead, "Gate and rollout KPIs of a window, with the releases behind each figure", h.gateKPIs),
	}
}

// kpiFilter reads service, environment, team, since (a window such as 30d,
// or an RFC 3339 time) and until (an RFC 3339 time; now by default).
func kpiFilter(r *http.Request, now time.Time) (shipgate.KPIFilter, error) {
	q := r.URL.Query()
	f := shipgate.KPIFilter{Service: q.Get("service"), Environment: q.Get("environment"), Team: q.Get("team"), Until: now}
	for name, v := range map[string]string{"service": f.Service, "environment": f.Environment, "team": f.Team} {
		if err := shipgate.ValidateLine(name, v, 256); err != nil {
			return f, err
		}
	}
	if s := q.Get("until"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, shipgate.Errorf(shipgate.EINVALID, "until=%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		f.Until = t.UTC()
	}
	s := q.Get("since")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		f.Since = t.UTC()
	} else {
		d, err := shipgate.ParseKPIWindow(s)
		if err != nil {
			return f, err
		}
		f.Since = f.Until.Add(-d)
	}
	if !f.Since.Before(f.Until) {
		return f, shipgate.Errorf(shipgate.EINVALID, "since (%s) must be before until (%s)", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Until.Sub(f.Since) > shipgate.MaxKPIWindow {
		return f, shipgate.Errorf(shipgate.EINVALID, "the window from %s to %s is longer than the longest, 366d", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	return f, nil
}

func (h *Handler) gateKPIs(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out *shipgate.GateKPIs
	release, err := acquireMetrics(r.Context()) // metrics_limit.go
	if err != nil {
		return err
	}
	defer release()
	err = h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		f, err := kpiFilter(r, tx.Now())
		if err != nil {
			return err
		}
		if err := tx.CheckKPIFilter(r.Context(), f); err != nil {
			return err
		}
		hist, err := tx.KPIHistory(r.Context(), f)
		if err != nil {
			return err
		}
		out = kpi.Compute(hist, f)
		kpi.Truncate(out, kpiMaxList)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
