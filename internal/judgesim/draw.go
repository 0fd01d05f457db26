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

// slowProbability is the chance that a request of an arm whose latency
// median is multiplied by m is slower than a healthy arm's p90:
// P(ln X > ln med + z90·σ) with ln X ~ N(ln med + ln m, σ²).
func slowProbability(m, sigma float64) float64 {
	const z90 = 1.2815515655446004
	return 1 - normalCDF(z90-math.Log(m)/sigma)
}

func normalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
