package analysis

import (
	"math"
	"math/rand/v2"
)

// poisson draws from a Poisson distribution with mean mu: by multiplying
// uniforms for small means, else by Hörmann's transformed rejection with
// squeeze (PTRS, 1993), which is exact and takes about one try.
func poisson(r *rand.Rand, mu float64) int {
	if mu <= 0 {
		return 0
	}
	if mu < 10 {
		limit := math.Exp(-mu)
		k, p := 0, r.Float64()
		for p > limit {
			p *= r.Float64()
			k++
		}
		return k
	}
	logMu := math.Log(mu)
	b := 0.931 + 2.53*math.Sqrt(mu)
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mu + 0.43)
		if us >= 0.07 && v <= vr {
			return int(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -mu+k*logMu-lg {
			return int(k)
		}
	}
}

// latencySum draws the total latency (ms) of n requests whose latency is
// log-normal with the given median and sigma: exactly for few requests,
// by the normal approximation of the sum for many.
func latencySum(r *rand.Rand, n int, median, sigma float64) float64 {
	if n <= 0 {
		return 0
	}
	if n <= 16 {
		sum := 0.0
		for range n {
			sum += median * math.Exp(sigma*r.NormFloat64())
		}
		return sum
	}
	s2 := sigma * sigma
	mean := median * math.Exp(s2/2)
	sd := mean * math.Sqrt(math.Exp(s2)-1)
	sum := float64(n)*mean + math.Sqrt(float64(n))*sd*r.NormFloat64()
	return math.Max(sum, 0)
}

// simulator produces the ticks of one run of a scenario.
type simulator struct {
	s     *Scenario
	r     *rand.Rand
	share [NumArms]float64
}

// tick fills t with second sec of the run and returns the expected number
// of excess bad responses the canary served in it: its requests times how
// much likelier than stable's they were to fail or to be slow.
func (sim *simulator) tick(sec int, t *Tick) (excess float64) {
	s, r := sim.s, sim.r
	at := float64(sec)
	t.Second = sec
	var pErr, pSlow [NumArms]float64
	for arm := range NumArms {
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
		t.Arms[arm] = ArmTick{
			Requests:   n,
			Errors:     errSlow + errFast,
			Slow:       errSlow + okSlow,
			LatencySum: latencySum(r, n, s.LatencyMedian*mult, s.LatencySigma),
		}
	}
	if b := s.Bursts; b.ChancePerSecond > 0 && r.Float64() < b.ChancePerSecond {
		u, arm := r.Float64(), Stable
		for a := range NumArms {
			if u < sim.share[a] {
				arm = a
				break
			}
			u -= sim.share[a]
		}
		a := &t.Arms[arm]
		a.Errors = min(a.Requests, a.Errors+b.Size)
	}
	n := float64(t.Arms[Canary].Requests)
	return n * (math.Max(0, pErr[Canary]-pErr[Stable]) + math.Max(0, pSlow[Canary]-pSlow[Stable]))
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
	env := JudgeEnv{BaselineMeanLatency: s.HealthyMeanLatency()}
	js := make([]Judge, len(judges))
	for i, f := range judges {
		js[i] = f.New(env)
	}
	out := make([]Outcome, len(judges))
	open := len(js)
	var reqs int
	var excess float64
	var t Tick
	for sec := 0; sec < s.Duration && open > 0; sec++ {
		excess += sim.tick(sec, &t)
		reqs += t.Arms[Canary].Requests
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
