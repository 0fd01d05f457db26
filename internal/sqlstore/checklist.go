package sqlstore

import (
	"context"
	"slices"

	"github.com/shipgate/shipgate"
)

// TickChecklist records who ticked a manual item of a release's checklist,
// with the evidence link, and audits it. Only an enabled member of the
// item's owner group may tick it, only while the release is not finished.
func (tx *Tx) TickChecklist(ctx context.Context, t *shipgate.ChecklistTick) error {
	if err := shipgate.ValidateTickLink(t.Link); err != nil {
		return err
	}
	if err := shipgate.ValidateLine("comment", t.Comment, shipgate.MaxCommentLen); err != nil {
		return err
	}
	r, err := tx.FindRelease(ctx, t.ReleaseID)
	if err != nil {
		return err
	}
	var item *shipgate.ChecklistItem
	for i := range r.Policy.Checklist {
		if r.Policy.Checklist[i].Name == t.Item {
			item = &r.Policy.Checklist[i]
		}
	}
	if item == nil {
		names := make([]string, 0, len(r.Policy.Checklist))
		for _, it := range r.Policy.Checklist {
			names = append(names, it.Name)
		}
		if len(names) == 0 {
			return shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no checklist", r.ID)
		}
		return shipgate.Errorf(shipgate.ENOTFOUND, "release %d has no checklist item %q (its items: %s)", r.ID, t.Item, quoteNames(names))
	}
	if item.Manual == nil {
		return shipgate.Errorf(shipgate.EINVALID, "checklist item %q is automated (%s): it holds when the evidence does, nobody ticks it", t.Item, item.Automated.Evidence)
	}
	if r.State.Final() {
		return shipgate.Errorf(shipgate.ECONFLICT, "release %d is %s; its checklist can no longer change", r.ID, r.State)
	}
	u, err := tx.FindUser(ctx, t.Actor)
	if err != nil {
		return err
	}
	if u.Disabled() || !slices.Contains(u.Groups, item.Manual.Owner) {
		return shipgate.Errorf(shipgate.EFORBIDDEN, "only a member of %s may tick %q; %s is not one", item.Manual.Owner, t.Item, t.Actor)
	}
	t.At = tx.now
	if _, err := tx.exec(ctx, `INSERT INTO checklist_ticks (release_id, item, actor, link, comment, at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ReleaseID, t.Item, t.Actor, t.Link, t.Comment, micros(t.At)); err != nil {
		return err
	}
	details := map[string]any{"item": t.Item, "owner": item.Manual.Owner, "link": t.Link}
	if t.Comment != "" {
		details["comment"] = t.Comment
	}
	return tx.Audit(ctx, shipgate.NewAuditEvent(t.Actor, shipgate.ActionChecklistTicked, shipgate.ReleaseSubject(t.ReleaseID), details))
}

func quoteNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += `"` + n + `"`
	}
	return out
}

// ListChecklistTicks returns the ticks of a release's checklist, oldest
// first.
func (tx *Tx) ListChecklistTicks(ctx context.Context, releaseID int64) ([]shipgate.ChecklistTick, error) {
	rows, err := tx.query(ctx, `SELECT item, actor, link, comment, at FROM checklist_ticks WHERE release_id = ? ORDER BY id`, releaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []shipgate.ChecklistTick{}
	for rows.Next() {
		t := shipgate.ChecklistTick{ReleaseID: releaseID}
		var at int64
		if err := rows.Scan(&t.Item, &t.Actor, &t.Link, &t.Comment, &at); err != nil {
			return nil, err
		}
		t.At = fromMicros(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Checklist evaluates the checklist frozen into r now: automated items
// against the release's current evidence, manual items by their ticks.
// nil when the release has none.
func (tx *Tx) Checklist(ctx context.Context, r *shipgate.Release) ([]shipgate.ChecklistItemState, error) {
	if len(r.Policy.Checklist) == 0 {
		return nil, nil
	}
	ev, err := tx.ListEvidence(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	ticks, err := tx.ListChecklistTicks(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return shipgate.EvaluateChecklist(r.Policy.Checklist, shipgate.EvidenceInput(ev), ticks), nil
}
