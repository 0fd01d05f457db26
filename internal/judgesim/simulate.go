package judgesim

import (
	"math"
	"math/rand/v2"

	"github.com/shipgate/shipgate/internal/analysis"
)

// simulator produces the ticks of one run of a scenario.
type simulator struct {
	s *Scenario
	r *rand.Rand
	// tel decides which seconds' counters go missing. It is a stream of
	// its own, so a scenario run with and without missing telemetry serves
	// the very same traffic.
	tel *rand.Rand
	// aux draws what the first benchmark did not (the tail split, stall
	// thinning), so its scenarios' draws from r are unchanged.
	aux *rand.Rand
}

// tick fills t with second sec of the run and returns the expected number
// of excess bad responses the canary served in it: its requests times how
// much likelier than stable's they were to fail, plus to be slow (or, if
// more, to be in the tail). Likelihoods count stalls by their chance, not
// by whether one happened in this second, so a canary that stalls no more
// often than stable does no excess harm.
func (sim *simulator) tick(sec int, t *analysis.Tick) (excess float64) {
	s, r := sim.s, sim.r
	at := float64(sec)
	t.Second = sec
	share := share(s.CanaryWeight.At(at))
	rate := s.Rate.At(at)
	healthyP99 := s.LatencyMedian * math.Exp(z99*s.LatencySigma)
	var pErr, pSlow, pTail [analysis.NumArms]float64
	for arm := range analysis.NumArms {
		m := s.Arms[arm]
		p := m.ErrorRate.At(at)
		lat := latency{Median: s.LatencyMedian * m.LatencyMultiplier.At(at), Sigma: s.LatencySigma, Tail: m.Tail}
		qs, qt := lat.exceeds(z90, s.LatencyMedian), lat.exceeds(z99, s.LatencyMedian)
		st := m.Stalls
		pErr[arm] = p + st.ChancePerSecond*st.FailShare*(1-p)
		ss := st.ChancePerSecond * st.SlowShare
		pSlow[arm], pTail[arm] = ss+(1-ss)*qs, ss+(1-ss)*qt
		// This second's process: stalled or not, independently per arm.
		pe, stallSlow := p, 0.0
		if st.ChancePerSecond > 0 && r.Float64() < st.ChancePerSecond {
			pe, stallSlow = p+(1-p)*st.FailShare, st.SlowShare
		}
		// Poisson arrivals split into independent Poisson cells by outcome
		// (error or not × slow or not), in the order of the first benchmark
		// so its scenarios replay exactly; the slow cells are then split
		// into the tail and the rest (binomially, from the aux stream), and
		// a stall adds its slowed requests as cells of their own.
		lambda := rate * share[arm]
		errSlow := poisson(r, lambda*pe*qs)
		errFast := poisson(r, lambda*pe*(1-qs))
		okSlow := poisson(r, lambda*(1-pe)*qs)
		okFast := poisson(r, lambda*(1-pe)*(1-qs))
		var errStall, okStall int
		if stallSlow > 0 {
			// A slowed request is taken out of the fast and slow cells alike:
			// thin them by 1 − stallSlow.
			errSlow, errFast = Binomial(sim.aux, errSlow, 1-stallSlow), Binomial(sim.aux, errFast, 1-stallSlow)
			okSlow, okFast = Binomial(sim.aux, okSlow, 1-stallSlow), Binomial(sim.aux, okFast, 1-stallSlow)
			errStall = poisson(r, lambda*pe*stallSlow)
			okStall = poisson(r, lambda*(1-pe)*stallSlow)
		}
		tailShare := 0.0
		if qs > 0 {
			tailShare = qt / qs
		}
		tail := Binomial(sim.aux, errSlow+okSlow, tailShare)
		stalled := errStall + okStall
		n := errSlow + errFast + okSlow + okFast + stalled
		t.Arms[arm] = analysis.ArmTick{
			Requests:   n,
			Errors:     errSlow + errFast + errStall,
			Slow:       errSlow + okSlow + stalled,
			Tail:       tail + stalled,
			LatencySum: latencySum(r, n-stalled, lat) + float64(stalled)*healthyP99,
		}
	}
	if b := s.Bursts; b.ChancePerSecond > 0 && r.Float64() < b.ChancePerSecond {
		u, arm := r.Float64(), analysis.Stable
		for a := range analysis.NumArms {
			if u < share[a] {
				arm = a
				break
			}
			u -= share[a]
		}
		a := &t.Arms[arm]
		a.Errors = min(a.Requests, a.Errors+b.Size)
	}
	n := float64(t.Arms[analysis.Canary].Requests)
	c, st := analysis.Canary, analysis.Stable
	return n * (math.Max(0, pErr[c]-pErr[st]) + math.Max(math.Max(0, pSlow[c]-pSlow[st]), pTail[c]-pTail[st]))
}

// Outcome is what one judge decided in one run.
type Outcome struct {
	RolledBack bool
	// Seconds from the canary's start to the rollback decision.
	Seconds int
	// CanaryRequests the canary served until the decision (or the end).
	CanaryRequests int
	// ExcessBad is the expected number of bad responses the canary served
	// beyond what stable would have, until the decision (or the end).
	ExcessBad float64
	Reason    string
}

// Simulate runs one canary of the scenario through a fresh judge of every
// factory, all seeing the same random stream (common random numbers), and
// returns one outcome per judge. seed and run select the stream.
func Simulate(s *Scenario, judges []JudgeFactory, seed, run uint64) []Outcome {
	stream := run ^ streamID(s.Name)
	sim := &simulator{s: s, r: rand.New(rand.NewPCG(seed, stream)), tel: rand.New(rand.NewPCG(seed, ^stream)),
		aux: rand.New(rand.NewPCG(^seed, stream))}
	env := analysis.JudgeEnv{BaselineMeanLatency: s.HealthyMeanLatency(), Warmup: s.Warmup}
	js := make([]analysis.Judge, len(judges))
	for i, f := range judges {
		js[i] = f.New(env)
	}
	out := make([]Outcome, len(judges))
	open := len(js)
	var reqs int
	var excess float64
	var t, late analysis.Tick // late: lumped seconds not yet delivered
	lateSeconds := 0
	tm := s.Telemetry
	for sec := 0; sec < s.Duration && open > 0; sec++ {
		excess += sim.tick(sec, &t)
		reqs += t.Arms[analysis.Canary].Requests
		missing := tm.MissingPerSecond > 0 && sim.tel.Float64() < tm.MissingPerSecond
		switch {
		case missing && tm.Mode == TelemetryLump:
			addTick(&late, &t)
			lateSeconds++
		case !missing && lateSeconds > 0:
			addTick(&t, &late)
			late, lateSeconds = analysis.Tick{}, 0
		}
		// The weight moves whether or not the counters arrive.
		weightChanged := sec > 0 && s.CanaryWeight.At(float64(sec)) != s.CanaryWeight.At(float64(sec-1))
		for i, j := range js {
			if out[i].RolledBack {
				continue
			}
			if wa, ok := j.(analysis.WeightAware); ok && weightChanged {
				wa.WeightChanged(sec)
			}
			out[i].CanaryRequests, out[i].ExcessBad = reqs, excess
			if missing {
				continue
			}
			v := j.Observe(&t)
			if v.Rollback {
				out[i].RolledBack, out[i].Seconds, out[i].Reason = true, sec+1, v.Reason
				open--
			}
		}
	}
	return out
}

// addTick adds src's counters to dst's; dst keeps its second.
func addTick(dst, src *analysis.Tick) {
	for arm := range analysis.NumArms {
		d, s := &dst.Arms[arm], src.Arms[arm]
		d.Requests += s.Requests
		d.Errors += s.Errors
		d.Slow += s.Slow
		d.Tail += s.Tail
		d.LatencySum += s.LatencySum
	}
}

// streamID derives a stream from a scenario's name (FNV-1a), so scenarios
// do not share random numbers with each other.
func streamID(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h << 20
}
