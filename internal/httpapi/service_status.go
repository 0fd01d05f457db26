package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// recentPerEnvironment is how many of an environment's latest releases
// the environments read returns.
const recentPerEnvironment = 5

// serviceEnvironments answers what runs where: for each environment of the
// service file, the current release, the latest releases and the open
// rollbacks, in one read transaction.
func (h *Handler) serviceEnvironments(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	ctx := r.Context()
	var out []client.EnvironmentStatus
	err := h.DB.View(ctx, func(tx *sqlstore.Tx) error {
		svc, err := tx.FindService(ctx, r.PathValue("name"))
		if err != nil {
			return err
		}
		out = make([]client.EnvironmentStatus, 0, len(svc.Spec.Environments))
		for _, env := range svc.Spec.Environments {
			st := client.EnvironmentStatus{Name: env.Name}
			cur, err := tx.CurrentRelease(ctx, svc.Name, env.Name)
			switch shipgate.ErrorCode(err) {
			case "":
				st.Current = cur
			case shipgate.EFAILEDPRECONDITION: // nothing has finished there yet
			default:
				return err
			}
			if st.Recent, err = tx.ListReleases(ctx, shipgate.ReleaseFilter{Service: svc.Name, Environment: env.Name, Limit: recentPerEnvironment}); err != nil {
				return err
			}
			if st.Recent == nil {
				st.Recent = []*shipgate.Release{}
			}
			if st.Rollbacks, err = tx.OpenRollbacks(ctx, svc.Name, env.Name); err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
