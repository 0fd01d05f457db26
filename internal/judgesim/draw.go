package judgesim

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

// Binomial draws from Binomial(n, p): exactly by inversion (a search from
// 0, about n·p steps) when n·min(p, 1−p) ≤ 50, else by the normal
// approximation rounded and clamped to [0, n], whose error at that size is
// far below the simulation's noise.
func Binomial(r *rand.Rand, n int, p float64) int {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - Binomial(r, n, 1-p)
	}
	mean := float64(n) * p
	if mean > 50 {
		k := math.Round(mean + math.Sqrt(mean*(1-p))*r.NormFloat64())
		return int(math.Min(math.Max(k, 0), float64(n)))
	}
	u := r.Float64()
	q := math.Pow(1-p, float64(n)) // P(X = 0)
	odds := p / (1 - p)
	k := 0
	for u > q && k < n {
		u -= q
		q *= odds * float64(n-k) / float64(k+1)
		k++
	}
	return k
}

// z90 and z99 are the standard normal's 90th and 99th percentiles: a
// request is slow above a healthy arm's p90 and in the tail above its p99.
const (
	z90 = 1.2815515655446004
	z99 = 2.3263478740408408
)

// latency is an arm's latency distribution in one second: log-normal with
// median Median and shape Sigma, except that draws above the Tail.Above
// quantile of that shape are Tail.Multiplier times slower.
type latency struct {
	Median, Sigma float64
	Tail          LatencyTail
}

// zTail is the standard-normal draw above which the tail shape applies;
// +Inf when there is none.
func (l latency) zTail() float64 {
	if !l.Tail.active() {
		return math.Inf(1)
	}
	return math.Sqrt2 * math.Erfinv(2*l.Tail.Above-1)
}

// exceeds is the chance that a request is slower than healthyMedian ×
// e^(z·σ), the z-quantile of a healthy arm: P(σZ + ln m > z·σ) for draws at
// most zTail, P(σZ + ln m + ln k > z·σ) for draws above it.
func (l latency) exceeds(z, healthyMedian float64) float64 {
	a := z - math.Log(l.Median/healthyMedian)/l.Sigma
	zt := l.zTail()
	if math.IsInf(zt, 1) {
		return upper(a)
	}
	b := a - math.Log(l.Tail.Multiplier)/l.Sigma
	return math.Max(0, upper(a)-upper(zt)) + upper(math.Max(b, zt))
}

// moments are the mean and standard deviation of one request's latency.
func (l latency) moments() (mean, sd float64) {
	s, s2 := l.Sigma, l.Sigma*l.Sigma
	zt := l.zTail()
	k := 1.0
	if !math.IsInf(zt, 1) {
		k = l.Tail.Multiplier
	}
	// E[e^(jσZ); Z > c] = e^(j²σ²/2)·P(Z > c − jσ).
	m1 := math.Exp(s2/2) * ((1 - upper(zt-s)) + k*upper(zt-s))
	m2 := math.Exp(2*s2) * ((1 - upper(zt-2*s)) + k*k*upper(zt-2*s))
	mean = l.Median * m1
	return mean, l.Median * math.Sqrt(math.Max(0, m2-m1*m1))
}

// latencySum draws the total latency (ms) of n requests: exactly for few
// requests, by the normal approximation of the sum for many.
func latencySum(r *rand.Rand, n int, l latency) float64 {
	if n <= 0 {
		return 0
	}
	if n <= 16 {
		zt := l.zTail()
		sum := 0.0
		for range n {
			z := r.NormFloat64()
			x := l.Median * math.Exp(l.Sigma*z)
			if z > zt {
				x *= l.Tail.Multiplier
			}
			sum += x
		}
		return sum
	}
	mean, sd := l.moments()
	if !l.Tail.active() { // the first benchmark's formula, bit for bit
		s2 := l.Sigma * l.Sigma
		mean = l.Median * math.Exp(s2/2)
		sd = mean * math.Sqrt(math.Exp(s2)-1)
	}
	sum := float64(n)*mean + math.Sqrt(float64(n))*sd*r.NormFloat64()
	return math.Max(sum, 0)
}

// slowProbability is the chance that a request of an arm whose latency
// median is multiplied by m is slower than a healthy arm's p90.
func slowProbability(m, sigma float64) float64 {
	return latency{Median: m, Sigma: sigma}.exceeds(z90, 1)
}

// upper is the standard normal's upper tail, P(Z > x).
func upper(x float64) float64 { return 0.5 * math.Erfc(x/math.Sqrt2) }
