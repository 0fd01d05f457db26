package analysis

import (
	"fmt"
	"math"
	"sort"
)

// Kayenta re-implements Spinnaker Kayenta's NetflixACAJudge as the judge
// benchmark specifies: per-minute error rate and mean latency for the
// canary and a same-size baseline; at every Interval minutes, over all
// minutes so far (growing lookback), a Mann-Whitney 98% confidence interval
// on the shift canary − baseline with its Hodges-Lehmann estimate; a metric
// is High when the interval's lower end is above 0.25 × |estimate| (and
// above zero); any High metric rolls the canary back. The seconds before
// BeginAfter (Kayenta's beginCanaryAnalysisAfterMins, whole minutes) are
// left out, and minutes and intervals count from there.
type Kayenta struct {
	Interval   int // minutes
	BeginAfter int // seconds, a whole number of minutes

	minute  [2][NumArms]float64 // accumulating: requests, errors/latency per arm
	cur     [NumArms]ArmTick
	errRate [2][]float64 // canary, baseline per-minute error rates
	meanLat [2][]float64 // canary, baseline per-minute mean latencies
	name    string
}

// NewKayenta returns a Kayenta-style judge deciding every interval
// minutes, beginning after env.Warmup rounded up to whole minutes (the unit
// of Kayenta's setting).
func NewKayenta(interval int, env JudgeEnv) *Kayenta {
	begin := (max(env.Warmup, 0) + 59) / 60 * 60
	return &Kayenta{Interval: interval, BeginAfter: begin, name: fmt.Sprintf("kayenta-%dm", interval)}
}

// Name implements Judge.
func (k *Kayenta) Name() string { return k.name }

// Observe implements Judge.
func (k *Kayenta) Observe(t *Tick) Verdict {
	if t.Second < k.BeginAfter {
		return Verdict{}
	}
	for arm := range NumArms {
		a := &k.cur[arm]
		a.Requests += t.Arms[arm].Requests
		a.Errors += t.Arms[arm].Errors
		a.LatencySum += t.Arms[arm].LatencySum
	}
	elapsed := t.Second + 1 - k.BeginAfter
	if elapsed%60 != 0 {
		return Verdict{}
	}
	for i, arm := range []int{Canary, Baseline} {
		a := k.cur[arm]
		if a.Requests == 0 {
			continue // a minute without data: NODATA, left out
		}
		k.errRate[i] = append(k.errRate[i], float64(a.Errors)/float64(a.Requests))
		k.meanLat[i] = append(k.meanLat[i], a.LatencySum/float64(a.Requests))
	}
	k.cur = [NumArms]ArmTick{}
	minute := elapsed / 60
	if minute%k.Interval != 0 {
		return Verdict{}
	}
	for _, m := range []struct {
		name string
		v    [2][]float64
	}{{"error rate", k.errRate}, {"mean latency", k.meanLat}} {
		if high, lo, est := mannWhitneyHigh(m.v[0], m.v[1], 0.98, 0.25); high {
			return Verdict{Rollback: true, Reason: fmt.Sprintf("%s is High: shift %.4g, 98%% interval lower end %.4g", m.name, est, lo)}
		}
	}
	return Verdict{}
}

// mannWhitneyHigh computes the Hodges-Lehmann shift of x over y with a
// Mann-Whitney confidence interval at the given confidence (normal
// approximation of U), and reports whether the shift is High: the lower
// end above tolerance × |estimate| and above zero.
func mannWhitneyHigh(x, y []float64, confidence, tolerance float64) (high bool, lower, estimate float64) {
	n, m := len(x), len(y)
	if n < 2 || m < 2 {
		return false, 0, 0
	}
	x, y = breakTies(x), breakTies(y)
	d := make([]float64, 0, n*m)
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	sort.Float64s(d)
	N := len(d)
	estimate = median(d)
	z := normalQuantile(1 - (1-confidence)/2)
	c := float64(N)/2 - z*math.Sqrt(float64(n*m*(n+m+1))/12)
	k := int(math.Floor(c))
	if k < 0 {
		k = 0
	}
	if k >= N {
		k = N - 1
	}
	lower = d[k]
	return lower > 0 && lower > tolerance*math.Abs(estimate), lower, estimate
}

// breakTies adds tiny deterministic noise to a constant series, as Kayenta
// does, so that ranks are defined.
func breakTies(v []float64) []float64 {
	constant := true
	for _, x := range v {
		constant = constant && x == v[0]
	}
	if !constant {
		return v
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x + 1e-5*math.Max(math.Abs(x), 1e-9)*float64(i%7-3)/3
	}
	return out
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// normalQuantile is the inverse standard normal CDF (Acklam's rational
// approximation, relative error below 1.2e-9).
func normalQuantile(p float64) float64 {
	a := [...]float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := [...]float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := [...]float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := [...]float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	const pl = 0.02425
	switch {
	case p < pl:
		q := math.Sqrt(-2 * math.Log(p))
		return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p <= 1-pl:
		q := p - 0.5
		r := q * q
		return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
	default:
		q := math.Sqrt(-2 * math.Log(1-p))
		return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
}
