package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// listRunners answers what the runners are doing: the built-in runner, if
// this server runs one, and every job attempt held now, by runner.
func (h *Handler) listRunners(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var jobs []sqlstore.RunningJob
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		jobs, err = tx.RunningJobs(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	out := client.Runners{Local: h.LocalRunner, Running: make([]client.RunningJob, 0, len(jobs))}
	for _, j := range jobs {
		out.Running = append(out.Running, client.RunningJob{Runner: j.Runner, ReleaseID: j.ReleaseID, Service: j.Service, Environment: j.Environment,
			Version: j.Version, Job: j.Name, Attempt: j.Attempt, StartedAt: j.StartedAt, LeaseUntil: j.LeaseUntil})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
