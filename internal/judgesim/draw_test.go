package judgesim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPoisson checks the sampler's mean and variance on both of its paths.
func TestPoisson(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, mu := range []float64{0.05, 3, 9.9, 10, 47.5, 900} {
		const n = 40000
		var sum, sq float64
		for range n {
			k := float64(poisson(r, mu))
			sum += k
			sq += k * k
		}
		mean := sum / n
		variance := sq/n - mean*mean
		// The sample mean's standard error is sqrt(mu/n); allow 5 of them.
		if math.Abs(mean-mu) > 5*math.Sqrt(mu/n) {
			t.Errorf("mu %v: mean %v", mu, mean)
		}
		if math.Abs(variance-mu)/mu > 0.05 {
			t.Errorf("mu %v: variance %v", mu, variance)
		}
	}
	if poisson(r, 0) != 0 || poisson(r, -1) != 0 {
		t.Error("poisson of a non-positive mean must be 0")
	}
}

func TestSlowProbability(t *testing.T) {
	if p := slowProbability(1, 0.5); math.Abs(p-0.10) > 1e-9 {
		t.Errorf("healthy arm: %v slow, want 10%%", p)
	}
	// The research note's figure: a +20% median moves the share to 18%.
	if p := slowProbability(1.2, 0.5); math.Abs(p-0.18) > 0.005 {
		t.Errorf("+20%% median: %v slow, want about 18%%", p)
	}
}
