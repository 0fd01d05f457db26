package httpapi

import (
	"context"
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// governanceView adds a release's checklist, evaluated now, and its freeze
// override to its view.
func governanceView(ctx context.Context, tx *sqlstore.Tx, v *client.ReleaseView) error {
	var err error
	if v.Checklist, err = tx.Checklist(ctx, v.Release); err != nil {
		return err
	}
	v.FreezeOverride, err = tx.FindFreezeOverride(ctx, v.Release.ID)
	return err
}

// tickChecklist ticks a manual checklist item. The route needs only read:
// membership of the item's owner group is what grants the tick.
func (h *Handler) tickChecklist(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.TickRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Item == "" {
		return shipgate.Errorf(shipgate.EINVALID, "item is required: name the checklist item you tick")
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		_, err := reconcile.TickChecklist(r.Context(), tx, &shipgate.ChecklistTick{ReleaseID: id, Item: req.Item, Actor: u.Name, Link: req.Link, Comment: req.Comment})
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	return h.writeRelease(w, r, http.StatusOK, id)
}
