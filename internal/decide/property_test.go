package decide

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// Property test: random command sequences against a small in-memory
// world — one service and environment, its releases, their jobs, approvals
// and rollbacks — that applies plans the way the store does. After every
// decision: no error but the ones people and runners get, every step is in
// the table with exactly its events, every step starts from the state the
// world holds and the world ends in the state the steps say (so no state
// changes without a listed step), every state is one the table knows, and
// rejected, cancelled and rolled_back never change.

const (
	propSequences = 250
	propCommands  = 80
)

func TestRandomCommandSequences(t *testing.T) {
	made := map[string]bool{}
	for seed := range uint64(propSequences) {
		w := newWorld(t, seed)
		w.made = made
		for i := range propCommands {
			w.step(i)
			if t.Failed() {
				t.Fatalf("seed %d, command %d; the last decisions:\n%s", seed, i, strings.Join(w.log[max(0, len(w.log)-25):], "\n"))
			}
		}
	}
	// The sequences must reach the interesting places, or they prove
	// little: they make every transition of the table but the rare ones,
	// and never one the world cannot make.
	for _, tr := range Transitions {
		k := transitionKey(tr.Entity, tr.From, tr.To, tr.On)
		_, impossible := unreachable[k]
		_, rare := rareTransitions[k]
		switch {
		case !made[k] && !impossible && !rare:
			t.Errorf("no random sequence made %s", k)
		case made[k] && impossible:
			t.Errorf("a random sequence made %s, which %s", k, unreachable[k])
		}
	}
}

// unreachable are transitions of the table that cannot happen with the
// store as it observes today, and why: dead rows, or rows for data from
// before rollbacks were recorded.
var unreachable = map[string]string{
	transitionKey(EntityRollback, bPending, bCalledOff, OnSuperseded): "a deploy does not start while an earlier release's rollback is pending (ReleaseAhead), so only a held one is superseded",
	transitionKey(EntityRollback, None, bDone, OnRollbackEnded):       "needs a rollback release without a rollback record, from before rollbacks were recorded",
	transitionKey(EntityRollback, None, bFailed, OnRollbackEnded):     "needs a rollback release without a rollback record, from before rollbacks were recorded",
	transitionKey(EntityRollback, bDone, bFired, OnManualRollback):    "a release whose rollback is done was rolled back, and only a release that succeeded or failed can be rolled back by hand",
}

// rareTransitions are made by some seeds only, or need longer sequences;
// the table tests make each of them.
var rareTransitions = map[string]string{
	transitionKey(EntityJob, jRunning, jFailed, OnHandBack):            "six hand-backs of one job (TestEveryJobCommandInEveryJobState)",
	transitionKey(EntityRelease, rSucceeded, rRolled, OnRollbackEnded): "a manual rollback of a succeeded release whose rollback release succeeds (TestRollbackReleaseEnds)",
	// A rerun failing again with nothing to restore, once the table lists
	// it (TestRollbackOfARerunThatFailsAgain).
	transitionKey(EntityRollback, bCalledOff, bUnavailable, OnRunEnded): "a rerun that fails again with nothing to restore",
	transitionKey(EntityRollback, bFailed, bUnavailable, OnRunEnded):    "a rerun that fails again with nothing to restore",
}

// userFacing are the error codes a refused command may carry; internal
// means the decider or its caller is wrong.
var userFacing = []string{shipgate.EINVALID, shipgate.ENOTFOUND, shipgate.ECONFLICT, shipgate.EFORBIDDEN, shipgate.EFAILEDPRECONDITION}

var (
	finalForever = []shipgate.ReleaseState{shipgate.StateRejected, shipgate.StateCancelled, shipgate.StateRolledBack}
	propUsers    = []*shipgate.User{
		{Name: "alice", Roles: []shipgate.Role{shipgate.RoleApprover}},
		{Name: "bob", Roles: []shipgate.Role{shipgate.RoleApprover}},
		{Name: "carol", Roles: []shipgate.Role{shipgate.RoleDeployer}}, // creates every release
		{Name: "dave", Roles: []shipgate.Role{shipgate.RoleApprover}, DisabledAt: &now},
	}
)

type world struct {
	t         *testing.T
	rnd       *rand.Rand
	now       time.Time
	env       shipgate.Environment
	pipeline  shipgate.Pipeline
	releases  []*shipgate.Release // by ID-1
	jobs      map[int64][]shipgate.JobRun
	approvals map[int64][]shipgate.Approval
	rollbacks map[int64]*shipgate.Rollback
	rollouts  []shipgate.Rollout
	nextID    int64 // of jobs and approvals
	ended     map[int64]shipgate.ReleaseState
	log       []string
	made      map[string]bool // transitions made, by transitionKey
	// notStarted is how often the runner hands an attempt back unstarted,
	// failRate how often an attempt fails.
	notStarted, failRate float64
}

func newWorld(t *testing.T, seed uint64) *world {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	env := shipgate.Environment{Name: "production",
		Approvals: shipgate.ApprovalPolicy{Required: rnd.IntN(2)},
		Rollback:  shipgate.RollbackPolicy{Enabled: rnd.IntN(4) > 0, DelaySeconds: []int{0, 60, 300}[rnd.IntN(3)], Mode: shipgate.RollbackLastSuccessful}}
	if rnd.IntN(2) == 0 {
		env.Approvals.ExpiresAfter = shipgate.Duration(2 * time.Minute)
	}
	w := &world{t: t, rnd: rnd, now: now, env: env,
		pipeline: shipgate.Pipeline{Jobs: []shipgate.Job{
			{Name: "build", Retries: rnd.IntN(2), Steps: []shipgate.Step{{Run: "true"}}},
			{Name: "deploy", Needs: []string{"build"}, Steps: []shipgate.Step{{Run: "true"}}},
			{Name: "lint", Steps: []shipgate.Step{{Run: "true"}}},
		}},
		jobs: map[int64][]shipgate.JobRun{}, approvals: map[int64][]shipgate.Approval{}, rollbacks: map[int64]*shipgate.Rollback{},
		ended: map[int64]shipgate.ReleaseState{}, notStarted: []float64{0.05, 0.05, 0.5, 1}[rnd.IntN(4)],
		failRate: []float64{0.1, 0.4}[rnd.IntN(2)],
	}
	if rnd.IntN(4) > 0 {
		// An environment with history: version 1.0 succeeded here.
		done := now.Add(-time.Hour)
		w.releases = append(w.releases, &shipgate.Release{ID: 1, State: shipgate.StateSucceeded, Run: 1, FinishedAt: &done, SucceededAt: &done,
			Digest: "sha256:1", ReleaseContent: shipgate.ReleaseContent{Service: "web", Environment: env.Name, Version: "1.0",
				Kind: shipgate.ReleaseKindDeploy, Pipeline: w.pipeline, Policy: env, CreatedBy: "carol"}})
	}
	return w
}

// step advances the clock and gives one random command.
func (w *world) step(i int) {
	// Mostly seconds pass; now and then minutes, enough for approvals to
	// expire, leases to run out and rollbacks to fire.
	step := 20
	if w.rnd.IntN(5) == 0 {
		step = 400
	}
	w.now = w.now.Add(time.Duration(w.rnd.IntN(step)) * time.Second)
	w.reconcile()
	if len(w.releases) == 0 || w.rnd.IntN(12) == 0 {
		w.create()
		return
	}
	kind := w.rnd.IntN(40)
	r := w.pick(kind)
	obs := w.observe(r)
	var cmd Command
	reason := w.text()
	switch kind {
	case 0, 1, 2, 3:
		cmd = Tick{}
	case 4, 5, 6:
		u := propUsers[w.rnd.IntN(2)] // an approver
		if w.rnd.IntN(4) == 0 {
			u = propUsers[w.rnd.IntN(len(propUsers))]
		}
		digest := r.Digest
		if w.rnd.IntN(6) == 0 {
			digest = "sha256:stale"
		}
		cmd = Decision{Approve: w.rnd.IntN(4) > 0, Approver: u, Digest: digest, Comment: reason}
	case 7:
		cmd = Cancel{Actor: "carol", Reason: reason}
	case 8:
		cmd = Rerun{Actor: "carol"}
	case 9:
		cmd = Hold{Actor: "dana", Reason: reason}
	case 10:
		cmd = RollbackNow{Actor: "erin", Reason: reason}
	case 11, 12:
		target := w.lastSucceeded(r)
		if target == nil {
			return // the caller refuses before deciding: nothing to roll back to
		}
		cmd = ManualRollback{Actor: "erin", Reason: reason, Target: target}
	case 13:
		cmd = FireRefused{Unavailable: w.rnd.IntN(2) == 0, Reason: "artifact gone", Target: w.lastSucceeded(r)}
	case 14:
		cmd = Recovered{Job: "deploy"}
	case 15, 16:
		cmd = Promote{Actor: "carol", Comment: reason}
	default:
		if len(obs.Jobs) == 0 {
			cmd = Tick{}
			break
		}
		j := obs.Jobs[w.rnd.IntN(len(obs.Jobs))]
		switch w.rnd.IntN(16) {
		case 0, 1, 2, 3, 4, 5, 6:
			j = w.prefer(obs.Jobs, j, shipgate.JobQueued)
			cmd = Claim{Job: j, Runner: "agent-1", ClaimID: fmt.Sprint("c", i), LeaseUntil: w.now.Add(time.Duration(30+w.rnd.IntN(90)) * time.Second)}
		case 7:
			cmd = Refuse{Job: j, Reason: "its secrets cannot be opened"}
		default:
			j = w.prefer(obs.Jobs, j, shipgate.JobRunning, shipgate.JobCancelled)
			out := shipgate.JobOutcome{Succeeded: w.rnd.IntN(3) > 0, NotStarted: w.rnd.Float64() < w.notStarted, Reason: "exit 1"}
			out.Succeeded = !out.NotStarted && w.rnd.Float64() >= w.failRate
			cmd = Finish{Job: j, Runner: j.Runner, Outcome: out}
		}
	}
	w.decide(obs, cmd)
	w.settle(r.ID)
}

// reconcile is the reconcile loop's pass over the active releases: those
// not final, and failed ones whose rollback waits.
func (w *world) reconcile() {
	for _, r := range w.releases {
		rb := w.rollbacks[r.ID]
		if !r.State.Final() || r.State == shipgate.StateFailed && rb != nil && rb.State == shipgate.RollbackPending {
			w.settle(r.ID)
		}
	}
}

// settle ticks release id until its plan moves nothing, as the store does
// right after a change.
func (w *world) settle(id int64) {
	for range 4 {
		if w.decide(w.observe(w.releases[id-1]), Tick{}) == 0 {
			return
		}
	}
}

// prefer returns, mostly, a job in one of states, the plausible ones for
// a runner's command; otherwise (or when there is none) j.
func (w *world) prefer(jobs []shipgate.JobRun, j shipgate.JobRun, states ...shipgate.JobState) shipgate.JobRun {
	if w.rnd.IntN(10) == 0 {
		return j
	}
	for _, c := range jobs {
		if slices.Contains(states, c.State) {
			return c
		}
	}
	return j
}

// text is a person's reason or comment: usually fine, sometimes not.
func (w *world) text() string {
	switch w.rnd.IntN(12) {
	case 0:
		return "two\nlines"
	case 1:
		return strings.Repeat("x", shipgate.MaxCommentLen+1)
	case 2, 3, 4, 5:
		return ""
	}
	return "because"
}

// pick returns a release to give a command of kind (see step) to:
// mostly one the command is plausible for, sometimes any.
func (w *world) pick(kind int) *shipgate.Release {
	rollbackIs := func(r *shipgate.Release, states ...shipgate.RollbackState) bool {
		rb := w.rollbacks[r.ID]
		return rb != nil && slices.Contains(states, rb.State)
	}
	plausible := func(r *shipgate.Release) bool {
		switch kind {
		case 4, 5, 6:
			return r.State == shipgate.StatePendingApproval
		case 8:
			return r.State == shipgate.StateFailed
		case 9, 13, 14:
			return rollbackIs(r, shipgate.RollbackPending)
		case 10:
			return rollbackIs(r, shipgate.RollbackPending, shipgate.RollbackHeld)
		case 11, 12:
			return r == w.current()
		case 15, 16:
			for _, ro := range w.rollouts {
				if ro.Status.Phase == shipgate.RolloutPaused && ro.PromotedThrough < ro.Status.Pause && slices.ContainsFunc(w.jobs[r.ID], func(j shipgate.JobRun) bool { return j.ID == ro.JobID }) {
					return true
				}
			}
			return false
		case 0, 1, 2, 3, 7:
			return !r.State.Final()
		}
		return r.State == shipgate.StateRunning // a runner's report
	}
	if w.rnd.IntN(5) > 0 {
		var some []*shipgate.Release
		for _, r := range w.releases {
			if plausible(r) {
				some = append(some, r)
			}
		}
		if len(some) > 0 {
			return some[w.rnd.IntN(len(some))]
		}
	}
	return w.releases[w.rnd.IntN(len(w.releases))]
}

// current is the environment's current release, the one a manual
// rollback rolls back: the newest that succeeded, or a deploy that failed.
func (w *world) current() *shipgate.Release {
	for i := len(w.releases) - 1; i >= 0; i-- {
		r := w.releases[i]
		if r.State == shipgate.StateSucceeded || r.State == shipgate.StateFailed && r.Kind != shipgate.ReleaseKindRollback {
			return r
		}
	}
	return nil
}

func (w *world) create() {
	n := len(w.releases) + 1
	r := &shipgate.Release{ReleaseContent: shipgate.ReleaseContent{Service: "web", Environment: w.env.Name, Version: fmt.Sprintf("1.%d", n),
		Kind: shipgate.ReleaseKindDeploy, Pipeline: w.pipeline, Policy: w.env, CreatedBy: "carol", CreatedAt: w.now}}
	r.Digest = fmt.Sprintf("sha256:%d", n)
	w.decide(Observed{Release: r}, Create{Actor: "carol"})
}

// lastSucceeded is what a rollback of r restores: the newest other
// release that succeeded.
func (w *world) lastSucceeded(r *shipgate.Release) *shipgate.Release {
	for i := len(w.releases) - 1; i >= 0; i-- {
		if o := w.releases[i]; o.ID != r.ID && o.State == shipgate.StateSucceeded && o.Version != r.Version {
			c := *o
			return &c
		}
	}
	return nil
}

// observe loads what a decision on r needs, as the store does.
func (w *world) observe(r *shipgate.Release) Observed {
	rc := *r
	obs := Observed{Release: &rc, Approvals: slices.Clone(w.approvals[r.ID])}
	for _, j := range w.jobs[r.ID] {
		if j.Run == r.Run {
			obs.Jobs = append(obs.Jobs, j)
			for _, ro := range w.rollouts {
				if ro.JobID == j.ID {
					obs.Rollouts = append(obs.Rollouts, ro)
				}
			}
		}
	}
	if rb := w.rollbacks[r.ID]; rb != nil {
		c := *rb
		obs.Rollback = &c
		if rb.State == shipgate.RollbackFired && rb.RollbackRelease != 0 {
			c := *w.releases[rb.RollbackRelease-1]
			obs.RollbackRelease = &c
		}
	}
	obs.Ahead = w.ahead(r)
	for _, o := range w.releases {
		c := *o
		if o.ID > r.ID && o.State == shipgate.StateSucceeded {
			obs.NewerSucceeded = &c
		}
		if rb := w.rollbacks[o.ID]; rb != nil && rb.Open() && o.ID < r.ID {
			obs.Superseded = append(obs.Superseded, *rb)
		}
	}
	for _, o := range w.releases {
		if o.State == shipgate.StateQueued || o.State == shipgate.StateRunning {
			c := *o
			obs.Busy = &c
			break
		}
	}
	if t := w.lastSucceeded(r); t != nil {
		obs.RollbackTarget = t
	} else {
		obs.RollbackNone = "no other release of web succeeded in production"
	}
	return obs
}

// ahead is the release r waits for, as the store's ReleaseAhead finds it:
// a running one, one queued before it, or (for a deploy) an earlier failed
// one whose rollback is pending.
func (w *world) ahead(r *shipgate.Release) *shipgate.Release {
	tests := []func(o *shipgate.Release) bool{
		func(o *shipgate.Release) bool { return o.State == shipgate.StateRunning && o.ID != r.ID },
		func(o *shipgate.Release) bool { return o.State == shipgate.StateQueued && o.ID < r.ID },
		func(o *shipgate.Release) bool {
			rb := w.rollbacks[o.ID]
			return o.State == shipgate.StateFailed && o.ID < r.ID && rb != nil && rb.State == shipgate.RollbackPending
		},
	}
	if r.Kind == shipgate.ReleaseKindRollback {
		tests = tests[:1] // a rollback goes ahead of queued deploys
	}
	for _, test := range tests {
		for _, o := range w.releases {
			if test(o) {
				c := *o
				return &c
			}
		}
	}
	return nil
}

// decide asks Decide and, when it plans, applies the plan; the
// properties are checked on the way. It returns how many steps the plan
// made.
func (w *world) decide(obs Observed, cmd Command) int {
	t := w.t
	t.Helper()
	p, err := Decide(obs, cmd, w.now)
	what := fmt.Sprintf("%+v", cmd)
	switch c := cmd.(type) {
	case Decision:
		what = fmt.Sprintf("{Approve:%v Approver:%s Digest:%s}", c.Approve, c.Approver.Name, c.Digest)
	case Claim:
		what = fmt.Sprintf("{Job:%s (%s, attempt %d)}", c.Job.Name, c.Job.State, c.Job.Attempt)
	case Refuse:
		what = fmt.Sprintf("{Job:%s (%s)}", c.Job.Name, c.Job.State)
	case Finish:
		what = fmt.Sprintf("{Job:%s (%s, attempt %d) Outcome:%+v}", c.Job.Name, c.Job.State, c.Job.Attempt, c.Outcome)
	}
	if len(what) > 200 {
		what = what[:200] + "…"
	}
	w.log = append(w.log, fmt.Sprintf("%s release %d (%s) %T %s → %q err=%v", w.now.Format(time.TimeOnly), obs.Release.ID, obs.Release.State, cmd, what, stepStrings(p), err))
	if err != nil {
		if !slices.Contains(userFacing, shipgate.ErrorCode(err)) {
			t.Errorf("%T on release %d (%s): %v", cmd, obs.Release.ID, obs.Release.State, err)
		}
		if !p.Empty() {
			t.Errorf("refused with a plan: %+v", p)
		}
		return 0
	}
	if err := CheckSteps(&p); err != nil {
		t.Errorf("%T on release %d: %v", cmd, obs.Release.ID, err)
		return 0
	}
	stepEvents := 0
	for _, s := range p.Steps {
		if w.made != nil {
			w.made[transitionKey(s.Entity, s.From, s.To, s.On)] = true
		}
		tr, _ := Find(s.Entity, s.From, s.To, s.On)
		stepEvents += len(tr.Events)
	}
	if len(p.Events) != stepEvents {
		t.Errorf("%T: %d audit events for steps that record %d", cmd, len(p.Events), stepEvents)
	}
	// A fire the store cannot carry out is refused instead.
	if p.Fire != nil && obs.Rollback != nil && obs.Rollback.State == shipgate.RollbackPending && cmd.Trigger() == OnStart && w.rnd.IntN(5) == 0 {
		return w.decide(obs, FireRefused{Unavailable: w.rnd.IntN(2) == 0, Reason: "artifact gone"})
	}
	w.apply(obs, p)
	return len(p.Steps)
}

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

func transitionKey(e Entity, from, to string, on Trigger) string {
	if from == None {
		from = "(new)"
	}
	return fmt.Sprintf("%s %s → %s on %s", e, from, to, on)
}
