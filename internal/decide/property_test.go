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
	// A failed rollback release rerun until it succeeds
	// (TestEveryRollbackCommandInEveryRollbackState, the store suite's
	// RollbackReleaseRerun).
	transitionKey(EntityRollback, bFailed, bDone, OnRollbackEnded):   "a failed rollback release rerun and succeeding",
	transitionKey(EntityRollback, bFailed, bFailed, OnRollbackEnded): "a failed rollback release rerun and failing again",
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
		// A person who holds a rollback usually decides soon after: fire
		// it, rerun the release instead, or call it off. Without this a
		// held rollback is nearly always superseded first.
		w.decide(obs, Hold{Actor: "dana", Reason: reason})
		w.settle(r.ID)
		if w.rnd.IntN(2) == 0 {
			next := []Command{RollbackNow{Actor: "erin", Reason: w.text()}, Rerun{Actor: "carol"}, CallOff{Actor: "erin", Reason: "it was the load balancer"}}
			w.decide(w.observe(r), next[w.rnd.IntN(len(next))])
			w.settle(r.ID)
		}
		return
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
	case 17:
		cmd = CallOff{Actor: "erin", Reason: reason}
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
		case 17:
			return rollbackIs(r, shipgate.RollbackHeld)
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
	// It fires as decided, with its events, then is refused.
	if p.Fire != nil && obs.Rollback != nil && obs.Rollback.State == shipgate.RollbackPending && cmd.Trigger() == OnStart && w.rnd.IntN(5) == 0 {
		fired := p
		fired.Fire = nil
		w.apply(obs, fired)
		return len(p.Steps) + w.decide(w.observe(obs.Release), FireRefused{Unavailable: w.rnd.IntN(2) == 0, Reason: "artifact gone"})
	}
	w.apply(obs, p)
	return len(p.Steps)
}

func transitionKey(e Entity, from, to string, on Trigger) string {
	if from == None {
		from = "(new)"
	}
	return fmt.Sprintf("%s %s → %s on %s", e, from, to, on)
}
