package shipgate

import (
	"fmt"
	"strings"
	"time"
)

// RollbackState is where the rollback of a release is: one its policy
// started when it failed, or one a person asked for with `shipgate
// rollback`.
//
//	(none) ──(run failed)──► pending ──(delay over)──► fired ──► done | failed
//	   │                      │ ▲ └──(check recovered, superseded, "rollback call-off")──► called_off
//	   │                      │ └──("rollback now")── held ◄──("rollback hold")
//	   │                      └──(rollback release cannot be created)──► unavailable | failed
//	   └──("shipgate rollback")──► fired
//
// unavailable records that the policy wanted a rollback and found nothing
// to roll back to. A held rollback is also called off by a rerun, a newer
// release or a person ("rollback call-off"); an ended one starts again when a rerun fails too. The complete
// diagram is generated from the decider's transition table
// (internal/decide/table.go) into docs/architecture.md.
type RollbackState string

// Rollback states.
const (
	RollbackPending     RollbackState = "pending"
	RollbackHeld        RollbackState = "held"
	RollbackCalledOff   RollbackState = "called_off"
	RollbackFired       RollbackState = "fired"
	RollbackDone        RollbackState = "done"
	RollbackFailed      RollbackState = "failed"
	RollbackUnavailable RollbackState = "unavailable"
)

// Rollback is the rollback of one release: what it restores, when it
// fires, and how it ended.
type Rollback struct {
	ReleaseID   int64         `json:"release_id"`
	State       RollbackState `json:"state"`
	Reason      string        `json:"reason"`
	TriggeredBy string        `json:"triggered_by"`
	// TargetID is the release whose artifact, inputs and pipeline are
	// restored; TargetVersion its version.
	TargetID      int64      `json:"target_id,omitempty"`
	TargetVersion string     `json:"target_version,omitempty"`
	FiresAt       *time.Time `json:"fires_at,omitempty"`
	// RollbackRelease is the release created when the rollback fired.
	RollbackRelease int64 `json:"rollback_release,omitempty"`
	// RequestedBy is the person who fired the rollback with `rollback
	// now`, and RequestReason what they said: they are accountable for it,
	// and its rollback release is created in their name. Empty when the
	// policy fired it on its own.
	RequestedBy   string `json:"requested_by,omitempty"`
	RequestReason string `json:"request_reason,omitempty"`
	// HeldBy is the person who held the rollback, and HoldReason what they
	// said; kept after it fires, so why it waited stays visible.
	HeldBy     string    `json:"held_by,omitempty"`
	HoldReason string    `json:"hold_reason,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Open reports whether the rollback still waits for its moment.
func (r *Rollback) Open() bool { return r.State == RollbackPending || r.State == RollbackHeld }

// ProbeResult is one probe of a health check.
type ProbeResult struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	LatencyMS int64     `json:"latency_ms"`
	OK        bool      `json:"ok"`
	Reason    string    `json:"reason,omitempty"`
	// Watch marks probes taken after the check failed, while its rollback
	// waited: they decide whether the rollback is called off.
	Watch bool `json:"watch,omitempty"`
}

// ProbeReply tells a runner watching a failed check whether to go on.
type ProbeReply struct {
	Stop bool `json:"stop"`
}

// Audit actions of rollbacks that belong to step 2 (the others are in
// audit.go).
const (
	// ActionRollbackRefused records a manual rollback refused before
	// anything was created: its artifact is unavailable, or the version
	// it would restore never succeeded in the environment.
	ActionRollbackRefused = "rollback.refused"
)

// RollbackOutsideWindow is what the release.started event of a rollback
// release says when it starts while the environment's deploy windows are
// closed, and RollbackHeldForWindow what a held one waits with.
const (
	RollbackOutsideWindow = "started outside the deploy window because it is a rollback"
	RollbackHeldForWindow = "held for the deploy window because %s applies windows to rollbacks (windows_apply_to_rollbacks: true)"
)

// WindowsApply reports whether the deploy windows of the release's frozen
// policy hold it: every deploy, and a rollback only where the environment
// opted in with windows_apply_to_rollbacks.
func (r *Release) WindowsApply() bool {
	return r.Kind != ReleaseKindRollback || r.Policy.WindowsApplyToRollbacks
}

// RollbackPipeline returns the pipeline a rollback release runs: pl (the
// restored release's pipeline) with every service job's strategy replaced
// by s, the environment's rollback_strategy (nil: all traffic at once).
// The rollback release freezes it, so what the rollback will do is in its
// content and digest, and the runner never has to guess. pl is not
// changed.
func RollbackPipeline(pl Pipeline, s *Strategy) Pipeline {
	out := Pipeline{Jobs: make([]Job, len(pl.Jobs))}
	copy(out.Jobs, pl.Jobs)
	for i := range out.Jobs {
		if out.Jobs[i].Service != nil {
			out.Jobs[i].Strategy = s.clone()
		}
	}
	return out
}

// RestoredPipeline returns the pipeline a rollback release that restores
// release target (whose pipeline is pl) runs, checked as a service file's
// pipeline is. When the environment's rollback_strategy s does not fit pl —
// it was checked at apply against the pipeline of the day, and pl may be
// older (another service job on its preview address, say) — it falls back
// to all traffic at once, which always fits, and note says why: a rollback
// must restore, not fail on its strategy. It is an error only when pl
// itself no longer passes today's checks; such a pipeline is never frozen
// into a rollback release.
func RestoredPipeline(target int64, pl Pipeline, s *Strategy) (out Pipeline, note string, err error) {
	out = RollbackPipeline(pl, nil)
	var base validator
	base.pipeline(&out)
	if len(base.problems) > 0 {
		return Pipeline{}, "", Errorf(EFAILEDPRECONDITION, "the pipeline of release %d does not pass today's checks, so it cannot be restored: %s", target, problemMessages(base.problems))
	}
	if s == nil {
		return out, "", nil
	}
	with := RollbackPipeline(pl, s)
	var v validator
	v.rollbackStrategy("rollback_strategy", s, &pl)
	v.pipeline(&with)
	if len(v.problems) == 0 {
		return with, "", nil
	}
	return out, fmt.Sprintf("rollback_strategy does not fit release %d's pipeline: %s; all traffic at once", target, problemMessages(v.problems)), nil
}

// problemMessages joins the messages of problems, each once, without their
// paths: they name fields of a file the reader of a rollback never wrote.
func problemMessages(problems []FieldError) string {
	var msgs []string
	seen := map[string]bool{}
	for _, p := range problems {
		if !seen[p.Message] {
			seen[p.Message] = true
			msgs = append(msgs, p.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

func (s *Strategy) clone() *Strategy {
	if s == nil {
		return nil
	}
	c := *s
	if s.Canary != nil {
		cc := *s.Canary
		cc.Steps = append([]CanaryStep(nil), s.Canary.Steps...)
		c.Canary = &cc
	}
	if s.BlueGreen != nil {
		bg := *s.BlueGreen
		c.BlueGreen = &bg
	}
	return &c
}

// StrategySummary describes in a few words how a service job moves
// traffic: "all traffic at once", "canary 10% → pause 30s → 100%",
// "blue-green via 127.0.0.1:8081".
func StrategySummary(s *Strategy) string {
	switch {
	case s == nil || s.Canary == nil && s.BlueGreen == nil:
		return "all traffic at once"
	case s.Canary != nil:
		var parts []string
		for _, st := range s.Canary.Steps {
			switch {
			case st.SetWeight != nil:
				parts = append(parts, fmt.Sprintf("%d%%", *st.SetWeight))
			case st.Pause != nil && st.Pause.Manual():
				parts = append(parts, "pause for promote")
			case st.Pause != nil:
				parts = append(parts, "pause "+st.Pause.Duration.Std().String())
			case st.Analysis != nil:
				parts = append(parts, "analysis")
			}
		}
		out := "canary " + strings.Join(parts, " → ")
		if s.Canary.BackgroundAnalysis != nil {
			out += " (with background analysis)"
		}
		return out
	}
	out := "blue-green via " + s.BlueGreen.Preview
	if s.BlueGreen.Analysis != nil {
		out += " (with analysis)"
	}
	return out
}

// rollbackStrategy checks an environment's rollback_strategy: the shape of
// a job's strategy, for the pipeline's service jobs, but with nothing that
// would make a rollback wait for a person or judge it against the version
// it replaces.
func (v *validator) rollbackStrategy(p string, s *Strategy, pl *Pipeline) {
	var services []*Job
	for i := range pl.Jobs {
		if pl.Jobs[i].Service != nil {
			services = append(services, &pl.Jobs[i])
		}
	}
	if len(services) == 0 {
		v.add(p, "rollback_strategy says how a rollback moves traffic for service: jobs, and the pipeline has no service: job; remove it")
		return
	}
	const judged = "a rollback is never judged against the version it replaces: it restores a version known to be good; remove this analysis from rollback_strategy"
	if c := s.Canary; c != nil {
		for k, st := range c.Steps {
			sp := fmt.Sprintf("%s.canary.steps[%d]", p, k)
			if st.Pause != nil && st.Pause.Manual() {
				v.add(sp+".pause", "a rollback never waits for a person (pause: {} waits for `shipgate promote`); give the pause a duration, such as pause: 30s, or remove it")
			}
			if st.Analysis != nil {
				v.add(sp+".analysis", judged)
			}
		}
		if c.BackgroundAnalysis != nil {
			v.add(p+".canary.background_analysis", judged)
		}
		v.rollbackPace(p+".canary.steps", c.Steps)
	}
	if b := s.BlueGreen; b != nil {
		if b.Analysis != nil {
			v.add(p+".blue_green.analysis", judged)
		}
		if len(services) > 1 {
			v.add(p+".blue_green", "a blue_green rollback_strategy has one preview address, and the pipeline has %d service jobs that would all need one; use canary, or leave rollback_strategy out", len(services))
		}
	}
	// Everything else is checked as a job's strategy is, against each
	// service's listen address; analyses were refused above.
	shape := *s.clone()
	if shape.Canary != nil {
		shape.Canary.BackgroundAnalysis = nil
		for k := range shape.Canary.Steps {
			if shape.Canary.Steps[k].Analysis != nil {
				shape.Canary.Steps[k].Analysis = &Analysis{Sequential: &SequentialAnalysis{}} // valid placeholder: counted as a step kind
			}
		}
	}
	if shape.BlueGreen != nil {
		shape.BlueGreen.Analysis = nil
	}
	seen := map[string]bool{}
	for _, j := range services {
		var w validator
		w.strategy(p, &shape, j.Service.Listen)
		for _, fe := range w.problems {
			if key := fe.Path + "\x00" + fe.Message; !seen[key] {
				seen[key] = true
				v.problems = append(v.problems, fe)
			}
		}
	}
}

// MaxRollbackPause bounds the timed pauses of a rollback_strategy, all
// together: a rollback may move traffic back gently, never slowly.
const MaxRollbackPause = 15 * time.Minute

// rollbackPace checks that a rollback canary only ever moves traffic
// towards the restored version: its weights start above 0 and grow, no
// pause holds all traffic on the version being rolled back (before the
// first set_weight), and its timed pauses total at most MaxRollbackPause.
// After the last step the canary takes all traffic, as any canary does.
func (v *validator) rollbackPace(p string, steps []CanaryStep) {
	last := 0
	var paused time.Duration
	over := false
	for k, st := range steps {
		sp := fmt.Sprintf("%s[%d]", p, k)
		switch {
		case st.SetWeight != nil && *st.SetWeight == 0:
			v.add(sp+".set_weight", "set_weight: 0 sends no traffic to the restored version and keeps the one being rolled back serving; a rollback's weights start above 0")
		case st.SetWeight != nil && *st.SetWeight <= last && *st.SetWeight >= 0:
			v.add(sp+".set_weight", "a rollback's weights only increase: set_weight: %d after set_weight: %d would move traffic back to the version being rolled back", *st.SetWeight, last)
		case st.SetWeight != nil:
			last = *st.SetWeight
		case st.Pause != nil && !st.Pause.Manual():
			if last == 0 {
				v.add(sp+".pause", "a pause before the first set_weight holds all traffic on the version being rolled back; set a weight first")
			}
			// Added only while the sum stays within the bound, so that
			// no pause, however long, can wrap the sum around.
			if d := st.Pause.Duration.Std(); d < 0 || d > MaxRollbackPause-paused {
				over = true
			} else {
				paused += d
			}
		}
	}
	if over {
		v.add(p, "the pauses of a rollback_strategy total more than %s; they may total at most %s, so a rollback is never slowed by more than that", MaxRollbackPause, MaxRollbackPause)
	}
}
