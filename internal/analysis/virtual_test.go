package analysis

import (
	"math"
	"testing"
)

// hypergeometricMean agrees with the textbook sum over the support.
func TestHypergeometricMean(t *testing.T) {
	pmf := func(size, marked, n, y int) float64 {
		lc := func(a, b int) float64 {
			x, _ := math.Lgamma(float64(a + 1))
			y, _ := math.Lgamma(float64(b + 1))
			z, _ := math.Lgamma(float64(a - b + 1))
			return x - y - z
		}
		return math.Exp(lc(marked, y) + lc(size-marked, n-y) - lc(size, n))
	}
	for _, c := range [][3]int{{950, 5, 50}, {950, 190, 50}, {950, 0, 50}, {8, 1, 1}, {50, 50, 50}, {900, 450, 600}, {20000, 200, 1000}} {
		size, marked, n := c[0], c[1], c[2]
		f := func(y int) float64 { return shift(3, y) }
		want := 0.0
		for y := max(0, n-(size-marked)); y <= min(n, marked); y++ {
			want += pmf(size, marked, n, y) * f(y)
		}
		if got := hypergeometricMean(size, marked, n, f); math.Abs(got-want) > 1e-9 {
			t.Errorf("HG(%d, %d, %d): %v, want %v", size, marked, n, got, want)
		}
	}
}

// The paired shift is antisymmetric: swapping the arms' counts (at equal
// sizes) negates it, which is what makes it mean 0 under exchangeability;
// no bad events, or an arm without requests, is no bet.
func TestPairedShift(t *testing.T) {
	if d := pairedShift(7, 50, 2, 50); math.Abs(d+pairedShift(2, 50, 7, 50)) > 1e-15 || d <= 0 {
		t.Errorf("pairedShift(7, 50, 2, 50) = %v", d)
	}
	if d := pairedShift(25, 50, 0, 950); d != 0.5 {
		t.Errorf("all bad events in the canary: %v, want 0.5", d)
	}
	for _, c := range [][4]int{{0, 50, 0, 950}, {3, 0, 2, 950}, {3, 50, 2, 0}} {
		if d := pairedShift(c[0], c[1], c[2], c[3]); d != 0 {
			t.Errorf("pairedShift%v = %v, want 0", c, d)
		}
	}
	// A canary larger than stable is subsampled down to stable's size.
	if d := pairedShift(10, 100, 0, 10); d <= 0 || d > 0.5 {
		t.Errorf("pairedShift(10, 100, 0, 10) = %v", d)
	}
}
