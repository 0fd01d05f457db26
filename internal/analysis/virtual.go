package analysis

import "math"

// pairedShift compares one second of one metric of the canary with a
// virtual baseline of the same size drawn from stable, and returns E[h],
// h = (X − Y)/(2(X + Y)) (0 when X + Y = 0), where X and Y are the bad
// counts among k = min(canaryReqs, stableReqs) requests drawn without
// replacement from the canary's and stable's requests. Only the larger
// arm is actually subsampled; the expectation over that hypergeometric
// draw is computed exactly. Under the null (equal per-request quality,
// stall processes independent and alike per arm) X and Y are exchangeable,
// so E[h] has mean 0 whatever the stall chance and size; h lies in
// [−½, ½], so 1 + λ·E[h] is positive for λ < 2.
func pairedShift(canaryBad, canaryReqs, stableBad, stableReqs int) float64 {
	if canaryReqs <= 0 || stableReqs <= 0 {
		return 0
	}
	canaryBad, stableBad = min(canaryBad, canaryReqs), min(stableBad, stableReqs)
	if canaryBad+stableBad == 0 {
		return 0
	}
	if canaryReqs <= stableReqs {
		x := canaryBad
		return hypergeometricMean(stableReqs, stableBad, canaryReqs, func(y int) float64 { return shift(x, y) })
	}
	y := stableBad
	return hypergeometricMean(canaryReqs, canaryBad, stableReqs, func(x int) float64 { return shift(x, y) })
}

func shift(x, y int) float64 {
	if x+y == 0 {
		return 0
	}
	return float64(x-y) / float64(2*(x+y))
}

// hypergeometricMean returns E[f(Y)] for Y the number of marked items
// among n drawn without replacement from a population of size with marked
// of them marked. It walks the probabilities out from the mode by their
// ratios and stops where they fall below 1e-17 of the mode's, so it costs
// about the width of the distribution, not n.
func hypergeometricMean(size, marked, n int, f func(int) float64) float64 {
	lo, hi := max(0, n-(size-marked)), min(n, marked)
	if lo == hi {
		return f(lo)
	}
	mode := int(math.Floor(float64(n+1) * float64(marked+1) / float64(size+2)))
	mode = min(max(mode, lo), hi)
	// ratio(y) = P(y+1)/P(y)
	ratio := func(y int) float64 {
		return float64(marked-y) * float64(n-y) / (float64(y+1) * float64(size-marked-n+y+1))
	}
	const cut = 1e-17
	sum, weight := f(mode), 1.0
	p := 1.0
	for y := mode; y < hi; y++ {
		p *= ratio(y)
		if p < cut {
			break
		}
		sum += p * f(y+1)
		weight += p
	}
	p = 1.0
	for y := mode; y > lo; y-- {
		p /= ratio(y - 1)
		if p < cut {
			break
		}
		sum += p * f(y-1)
		weight += p
	}
	return sum / weight
}
