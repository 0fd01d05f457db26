package decide

import (
	"fmt"
	"slices"

	"github.com/shipgate/shipgate"
)

// How the property test's world applies a plan the way the store does,
// and holds itself to the plan's steps afterwards (property_test.go).

// entityKey names one stored thing with a state.
type entityKey struct {
	e    Entity
	id   int64
	name string // a new job's name
}

// states returns the state of everything the world stores.
func (w *world) states() map[entityKey]string {
	m := map[entityKey]string{}
	for _, r := range w.releases {
		m[entityKey{EntityRelease, r.ID, ""}] = string(r.State)
		for _, j := range w.jobs[r.ID] {
			m[entityKey{EntityJob, j.ID, ""}] = string(j.State)
		}
		for _, a := range w.approvals[r.ID] {
			if a.Decision != shipgate.DecisionApprove {
				continue // a reject is the release's transition, not the approval's
			}
			st := aGiven
			if a.ExpiredAt != nil {
				st = aExpired
			}
			m[entityKey{EntityApproval, a.ID, ""}] = st
		}
	}
	for id, rb := range w.rollbacks {
		m[entityKey{EntityRollback, id, ""}] = string(rb.State)
	}
	return m
}

// apply persists p as the store does, then holds the world to p's steps.
func (w *world) apply(obs Observed, p Plan) {
	t := w.t
	t.Helper()
	before := w.states()
	id := obs.Release.ID
	ids := map[Pending]int64{}
	if p.Insert {
		id = int64(len(w.releases) + 1)
		r := *p.Release
		r.ID = id
		w.releases = append(w.releases, &r)
	}
	if p.Approval != nil {
		w.nextID++
		ids[NewApproval] = w.nextID
	}
	if f := p.Fire; f != nil {
		target := *w.releases[f.Target-1]
		rr := &shipgate.Release{ReleaseContent: target.ReleaseContent}
		rr.Kind, rr.RollbackOf, rr.RestoresRelease, rr.TriggeredBy = shipgate.ReleaseKindRollback, f.Of, f.Target, f.TriggeredBy
		rr.ApprovalSkipped, rr.CreatedBy, rr.CreatedAt, rr.Policy = "version "+target.Version+" succeeded here", f.Actor, w.now, w.env
		rr.Digest = fmt.Sprintf("sha256:rollback-of-%d", f.Of)
		ids[NewRollbackRelease] = int64(len(w.releases) + 1)
		w.decide(Observed{Release: rr}, Create{Actor: f.Actor})
		before = w.states()
		if int64(len(w.releases)) != ids[NewRollbackRelease] {
			t.Errorf("the rollback release of %d was not created", f.Of)
			return
		}
	}
	p.Bind(id, ids)
	for _, e := range p.Events {
		if e.Release == 0 {
			t.Errorf("event %s is about no release", e.Action)
		}
		for k, v := range e.Details {
			if _, ok := v.(Pending); ok {
				t.Errorf("event %s: %s is still %v after Bind", e.Action, k, v)
			}
		}
	}
	if p.Release != nil && !p.Insert {
		r := *p.Release
		r.Generation++
		*w.releases[id-1] = r
	}
	if p.StartRun {
		for _, j := range p.NewJobs {
			w.nextID++
			j.ID = w.nextID
			w.jobs[id] = append(w.jobs[id], j)
		}
	}
	if a := p.Approval; a != nil {
		c := *a
		c.ID = ids[NewApproval]
		w.approvals[id] = append(w.approvals[id], c)
	}
	for _, aid := range p.ExpireApprovals {
		for i := range w.approvals[id] {
			if w.approvals[id][i].ID == aid {
				now := w.now
				w.approvals[id][i].ExpiredAt = &now
			}
		}
	}
	for _, j := range p.Jobs {
		i := slices.IndexFunc(w.jobs[id], func(x shipgate.JobRun) bool { return x.ID == j.ID })
		if i < 0 {
			t.Errorf("plan changes job %d (%s), which release %d does not have", j.ID, j.Name, id)
			continue
		}
		w.jobs[id][i] = j
		if j.State == shipgate.JobRunning && j.Name == "deploy" && w.rnd.IntN(2) == 0 {
			// The agent reports a rollout paused for promote.
			w.rollouts = append(w.rollouts, shipgate.Rollout{JobID: j.ID, Job: j.Name, Attempt: j.Attempt, PromotedThrough: -1,
				Status: shipgate.RolloutStatus{Phase: shipgate.RolloutPaused, Step: 1, Steps: 2, Pause: 1}})
		}
	}
	for _, rb := range p.Rollbacks {
		c := rb
		w.rollbacks[rb.ReleaseID] = &c
	}
	for _, ro := range p.Promote {
		for i := range w.rollouts {
			if w.rollouts[i].JobID == ro.JobID && w.rollouts[i].Attempt == ro.Attempt {
				w.rollouts[i].PromotedThrough = ro.PromotedThrough
			}
		}
	}
	w.check(before, p)
	if e := p.EndRollback; e != nil {
		// The rollback release ended: decide on the release it rolls back.
		rr := *w.releases[id-1]
		w.decide(w.observe(w.releases[rr.RollbackOf-1]), RollbackEnded{RollbackRelease: &rr, Succeeded: e.Succeeded})
	}
}

// check holds the world after a plan to its steps and the table.
func (w *world) check(before map[entityKey]string, p Plan) {
	t := w.t
	t.Helper()
	// Steps start where the world was (or where the plan's previous step
	// of the same thing left it).
	cur := map[entityKey]string{}
	moved := map[entityKey]string{}
	newJobs := map[string]bool{}
	for _, s := range p.Steps {
		if s.Entity == EntityRollout {
			continue // no stored state of its own: promoted_through only
		}
		k := entityKey{s.Entity, s.ID, ""}
		if s.ID == 0 && s.From == None {
			if s.Entity == EntityJob {
				newJobs[s.Name] = true
			}
			continue // created by this plan; checked below
		}
		from, ok := cur[k]
		if !ok {
			from = before[k]
		}
		if from != s.From {
			t.Errorf("step %s, but the world has it %q", s, from)
		}
		cur[k], moved[k] = s.To, s.To
	}
	after := w.states()
	for k, st := range after {
		if b, existed := before[k]; existed && b == st {
			if to, ok := moved[k]; ok && to != st {
				t.Errorf("%s %d: the plan moves it to %s, the world keeps %s", k.e, k.id, to, st)
			}
			continue
		}
		if to, ok := moved[k]; ok {
			if to != st {
				t.Errorf("%s %d: the plan moves it to %s, the world has %s", k.e, k.id, to, st)
			}
			continue
		}
		if _, existed := before[k]; !existed {
			continue // new: checked against the plan's creating steps below
		}
		t.Errorf("%s %d changed %s → %s without a step", k.e, k.id, before[k], st)
	}
	// New things: each by a step from nothing.
	created := map[Entity]int{}
	for k := range after {
		if _, ok := before[k]; !ok {
			created[k.e]++
		}
	}
	fromNothing := map[Entity]int{}
	for _, s := range p.Steps {
		if s.From == None {
			fromNothing[s.Entity]++
		}
	}
	for _, e := range []Entity{EntityRelease, EntityJob, EntityApproval, EntityRollback} {
		if created[e] != fromNothing[e] {
			t.Errorf("%d %s created, %d steps from nothing: %q", created[e], e, fromNothing[e], stepStrings(p))
		}
	}
	// Every state is one the table knows.
	for k, st := range after {
		if !tableHasState(k.e, st) {
			t.Errorf("%s %d is %q, a state the table does not list", k.e, k.id, st)
		}
	}
	// Some ends are forever.
	for _, r := range w.releases {
		if was, ok := w.ended[r.ID]; ok && r.State != was {
			t.Errorf("release %d left %s for %s", r.ID, was, r.State)
		}
		if slices.Contains(finalForever, r.State) {
			w.ended[r.ID] = r.State
		}
	}
}

func tableHasState(e Entity, st string) bool {
	for _, tr := range Transitions {
		if tr.Entity == e && (tr.To == st || tr.From == st && st != None) {
			return true
		}
	}
	return false
}
