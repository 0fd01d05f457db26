package judgesim

import (
	"math"
	"math/rand/v2"

	"github.com/shipgate/shipgate/internal/analysis"
)

// simulator produces the ticks of one run of a scenario.
type simulator struct {
	s     *Scenario
	r     *rand.Rand
	share [analysis.NumArms]float64
}

// tick fills t with second sec of the run and returns the expected number
// of excess bad responses the canary served in it: its requests times how
// much likelier than stable's they were to fail or to be slow.
func (sim *simulator) tick(sec int, t *analysis.Tick) (excess float64) {
	s, r := sim.s, sim.r
	at := float64(sec)
	t.Second = sec
	var pErr, pSlow [analysis.NumArms]float64
	for arm := range analysis.NumArms {
		m := s.Arms[arm]
		p := m.ErrorRate.At(at)
		mult := m.LatencyMultiplier.At(at)
		q := slowProbability(mult, s.LatencySigma)
		pErr[arm], pSlow[arm] = p, q
		// Poisson arrivals split into independent Poisson cells by outcome.
		lambda := s.Rate * sim.share[arm]
		errSlow := poisson(r, lambda*p*q)
		errFast := poisson(r, lambda*p*(1-q))
		okSlow := poisson(r, lambda*(1-p)*q)
		okFast := poisson(r, lambda*(1-p)*(1-q))
		n := errSlow + errFast + okSlow + okFast
		t.Arms[arm] = analysis.ArmTick{
			Requests:   n,
			Errors:     errSlow + errFast,
			Slow:       errSlow + okSlow,
			LatencySum: latencySum(r, n, s.LatencyMedian*mult, s.LatencySigma),
		}
	}
	if b := s.Bursts; b.ChancePerSecond > 0 && r.Float64() < b.ChancePerSecond {
		u, arm := r.Float64(), analysis.Stable
		for a := range analysis.NumArms {
			if u < sim.share[a] {
				arm = a
				break
			}
			u -= sim.share[a]
		}
		a := &t.Arms[arm]
		a.Errors = min(a.Requests, a.Errors+b.Size)
	}
	n := float64(t.Arms[analysis.Canary].Requests)
	return n * (math.Max(0, pErr[analysis.Canary]-pErr[analysis.Stable]) + math.Max(0, pSlow[analysis.Canary]-pSlow[analysis.Stable]))
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
	sim := &simulator{s: s, r: rand.New(rand.NewPCG(seed, run^streamID(s.Name))), share: s.share()}
	env := analysis.JudgeEnv{BaselineMeanLatency: s.HealthyMeanLatency()}
	js := make([]analysis.Judge, len(judges))
	for i, f := range judges {
		js[i] = f.New(env)
	}
	out := make([]Outcome, len(judges))
	open := len(js)
	var reqs int
	var excess float64
	var t analysis.Tick
	for sec := 0; sec < s.Duration && open > 0; sec++ {
		excess += sim.tick(sec, &t)
		reqs += t.Arms[analysis.Canary].Requests
		for i, j := range js {
			if out[i].RolledBack {
				continue
			}
			v := j.Observe(&t)
			out[i].CanaryRequests, out[i].ExcessBad = reqs, excess
			if v.Rollback {
				out[i].RolledBack, out[i].Seconds, out[i].Reason = true, sec+1, v.Reason
				open--
			}
		}
	}
	return out
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
