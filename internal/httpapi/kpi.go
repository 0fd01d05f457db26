package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/kpi"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Gate and rollout KPIs (docs/metrics.md "Gate and rollout KPIs").

func (h *Handler) kpiRoutes() []Route {
	return []Route{
		route("GET", "/api/v1/metrics/gates", shipgate.PermRead, "Gate and rollout KPIs of a window, with the releases behind each figure", h.gateKPIs),
	}
}

// kpiFilter reads service, environment, team, since (a window such as 30d,
// or an RFC 3339 time) and until (an RFC 3339 time; now by default).
func kpiFilter(r *http.Request, now time.Time) (shipgate.KPIFilter, error) {
	q := r.URL.Query()
	f := shipgate.KPIFilter{Service: q.Get("service"), Environment: q.Get("environment"), Team: q.Get("team")}
	for name, v := range map[string]string{"service": f.Service, "environment": f.Environment, "team": f.Team} {
		if err := shipgate.ValidateLine(name, v, 256); err != nil {
			return f, err
		}
	}
	var err error
	if f.Since, f.Until, err = metricsWindow(q, now); err != nil {
		return f, err
	}
	return f, nil
}

func (h *Handler) gateKPIs(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	f, err := kpiFilter(r, h.DB.Now())
	if err != nil {
		return err
	}
	out, err := h.report(w, r, func(ctx context.Context) (any, error) {
		var out *shipgate.GateKPIs
		err := h.DB.View(ctx, func(tx *sqlstore.Tx) error {
			if err := tx.CheckKPIFilter(ctx, f); err != nil {
				return err
			}
			hist, err := tx.KPIHistory(ctx, f)
			if err != nil {
				return err
			}
			out = kpi.Compute(hist, f)
			return nil
		})
		return out, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
