package analysis

// WeightAware is a judge that wants to know when the canary's weight
// changed: the simulator and the runner tell every judge that implements
// it, in the tick's second, before that tick is observed.
type WeightAware interface {
	WeightChanged(second int)
}

// Warmup keeps a judge from judging a canary while it warms up: the first
// Seconds after the canary starts (its first tick) and after each weight
// change are not observed at all. Whether warm-up errors count is the
// user's policy (a rollout's `warmup`); ignoring seconds never breaks a
// judge's false-rollback bound, it only delays its verdicts.
type Warmup struct {
	Judge   Judge
	Seconds int

	started bool
	since   int // the second the current warm-up began
}

// NewWarmup returns j judging only after seconds of warm-up; j itself when
// seconds is not positive.
func NewWarmup(j Judge, seconds int) Judge {
	if seconds <= 0 {
		return j
	}
	return &Warmup{Judge: j, Seconds: seconds}
}

// Name implements Judge.
func (w *Warmup) Name() string { return w.Judge.Name() }

// WeightChanged starts a new warm-up at second.
func (w *Warmup) WeightChanged(second int) {
	w.started, w.since = true, second
	if wa, ok := w.Judge.(WeightAware); ok {
		wa.WeightChanged(second)
	}
}

// Warming reports whether the tick of second falls in a warm-up.
func (w *Warmup) Warming(second int) bool {
	return !w.started || second-w.since < w.Seconds
}

// Observe implements Judge.
func (w *Warmup) Observe(t *Tick) Verdict {
	if !w.started {
		w.started, w.since = true, t.Second
	}
	if t.Second-w.since < w.Seconds {
		return Verdict{}
	}
	return w.Judge.Observe(t)
}
