package analysis_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/analysis"
	"github.com/shipgate/shipgate/internal/judgesim"
)

// Until the simulator (internal/judgesim) expresses per-process stalls and
// tail shapes, this file holds a small generator of its own: per second and
// arm, Poisson requests, each an error, slow (beyond a healthy p90) or in the
// tail (beyond a healthy p99) independently; and per arm, independently,
// with stallChance the arm's process hiccups for the second and every one
// of its requests fails with failShare (and is slow with slowShare) besides.

// armModel is one arm's per-request behaviour.
type armModel struct {
	errorRate, slow, tail float64 // tail ⊂ slow
	stallChance           float64
	failShare, slowShare  float64
}

type stallModel struct {
	rate, weight float64 // requests/s of all arms; the canary's share (the baseline gets as much)
	duration     int
	stable       armModel
	canary       armModel
}

func healthyArm() armModel { return armModel{errorRate: 0.005, slow: 0.10, tail: 0.01} }

func poissonDraw(r *rand.Rand, mu float64) int {
	if mu > 40 {
		return max(0, int(math.Round(mu+math.Sqrt(mu)*r.NormFloat64())))
	}
	limit, k, p := math.Exp(-mu), 0, r.Float64()
	for p > limit {
		p *= r.Float64()
		k++
	}
	return k
}

func (a armModel) draw(r *rand.Rand, lambda float64) analysis.ArmTick {
	n := poissonDraw(r, lambda)
	pe, ps, pt := a.errorRate, a.slow, a.tail
	if a.stallChance > 0 && r.Float64() < a.stallChance {
		pe += (1 - pe) * a.failShare
		ps += (1 - ps) * a.slowShare
		pt += (1 - pt) * a.slowShare
	}
	slow := judgesim.Binomial(r, n, ps)
	return analysis.ArmTick{Requests: n, Errors: judgesim.Binomial(r, n, pe), Slow: slow, Tail: judgesim.Binomial(r, slow, pt/ps)}
}

// run returns the second of the rollback (1-based) and its reason, or 0
// if the canary is promoted.
func (m stallModel) run(j analysis.Judge, seed uint64) (int, string) {
	r := rand.New(rand.NewPCG(seed, 0x57a11))
	var t analysis.Tick
	for sec := range m.duration {
		t.Second = sec
		t.Arms[analysis.Stable] = m.stable.draw(r, m.rate*(1-2*m.weight))
		t.Arms[analysis.Baseline] = m.stable.draw(r, m.rate*m.weight)
		t.Arms[analysis.Canary] = m.canary.draw(r, m.rate*m.weight)
		if v := j.Observe(&t); v.Rollback {
			return sec + 1, v.Reason
		}
	}
	return 0, ""
}

// rollbacks runs the model through fresh judges and returns the share
// rolled back and the times of the rollbacks, sorted.
func (m stallModel) rollbacks(runs int, judge func() analysis.Judge) (float64, []int) {
	var at []int
	for seed := range uint64(runs) {
		if s, _ := m.run(judge(), seed); s > 0 {
			at = append(at, s)
		}
	}
	slices.Sort(at)
	return float64(len(at)) / float64(runs), at
}

func sequential() analysis.Judge { return analysis.NewSequential(0.01) }

// A healthy canary whose process hiccups exactly as often as stable's is
// rarely rolled back: at most 1% of canaries, at stall chances up to
// 0.05/s failing up to half of the arm's requests.
func TestSequentialValidUnderStalls(t *testing.T) {
	for _, c := range []struct {
		name                         string
		chance, failShare, slowShare float64
	}{
		{"0.02-0.2", 0.02, 0.2, 0},
		{"0.05-0.5", 0.05, 0.5, 0},
		{"0.05-0.5-slow", 0.05, 0.5, 0.5},
	} {
		t.Run(c.name, func(t *testing.T) {
			arm := healthyArm()
			arm.stallChance, arm.failShare, arm.slowShare = c.chance, c.failShare, c.slowShare
			m := stallModel{rate: 1000, weight: 0.05, duration: 1800, stable: arm, canary: arm}
			rate, _ := m.rollbacks(1000, sequential)
			t.Logf("stalls %s: %.1f%% false rollbacks", c.name, 100*rate)
			if rate > 0.01 {
				t.Errorf("stalls %s: %.1f%% false rollbacks of a healthy canary, want ≤ 1%%", c.name, 100*rate)
			}
		})
	}
}

// A canary slower only in its tail (p50–p90 unchanged, p99 +50%) at 1,000
// req/s and 5% weight is rolled back in ≥ 97% of canaries, median ≤ 120 s,
// and its reason names the tail.
func TestSequentialCatchesTail(t *testing.T) {
	canary := healthyArm()
	// Requests above a healthy p90 are 1.5× slower: with σ = 0.5 the share
	// beyond the healthy p99 becomes P(Z > 2.326 − ln 1.5/0.5) ≈ 6.5%.
	canary.tail = 1 - normalCDF(2.3263478740-math.Log(1.5)/0.5)
	m := stallModel{rate: 1000, weight: 0.05, duration: 1800, stable: healthyArm(), canary: canary}
	runs := 300
	if testing.Short() {
		runs = 60
	}
	rate, at := m.rollbacks(runs, sequential)
	if len(at) == 0 {
		t.Fatal("a tail regression is never rolled back")
	}
	median := at[len(at)/2]
	t.Logf("tail +50%%: %.1f%% rolled back, median %d s, p90 %d s", 100*rate, median, at[len(at)*9/10])
	if rate < 0.97 || median > 120 {
		t.Errorf("tail +50%%: %.1f%% rolled back, median %d s; want ≥ 97%%, ≤ 120 s", 100*rate, median)
	}
	j := analysis.NewSequential(0.01)
	sec, reason := m.run(j, 1)
	if sec == 0 {
		t.Fatal("seed 1 not rolled back")
	}
	if !strings.Contains(reason, "tail") || !strings.Contains(reason, "p99") {
		t.Errorf("reason %q does not name the tail", reason)
	}
	ev := j.Evidence()
	if ev["e_tail"].(float64) < ev["threshold_tail"].(float64) || ev["canary_tail"].(int) == 0 || ev["all_tail"].(int) <= ev["canary_tail"].(int) {
		t.Errorf("evidence %v", ev)
	}
}

func normalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// Stalls do not hide regressions: a canary erring at 2% is still rolled
// back while both arms hiccup, and a canary whose process hiccups ten times
// as often as stable's (because it is the canary) is a regression too.
func TestSequentialCatchesRegressionsUnderStalls(t *testing.T) {
	stalling := func(chance float64) armModel {
		a := healthyArm()
		a.stallChance, a.failShare = chance, 0.2
		return a
	}
	worse := stalling(0.02)
	worse.errorRate = 0.02
	runs := 200
	if testing.Short() {
		runs = 50
	}
	for _, c := range []struct {
		name           string
		stable, canary armModel
		median         int
	}{
		{"2% errors, both arms stalling", stalling(0.02), worse, 60},
		{"canary stalls 10× as often", stalling(0.02), stalling(0.2), 150},
	} {
		m := stallModel{rate: 1000, weight: 0.05, duration: 1800, stable: c.stable, canary: c.canary}
		rate, at := m.rollbacks(runs, sequential)
		if len(at) == 0 {
			t.Errorf("%s: never rolled back", c.name)
			continue
		}
		t.Logf("%s: %.1f%% rolled back, median %d s, p90 %d s", c.name, 100*rate, at[len(at)/2], at[len(at)*9/10])
		if rate < 0.99 || at[len(at)/2] > c.median {
			t.Errorf("%s: %.1f%% rolled back, median %d s; want ≥ 99%%, ≤ %d s", c.name, 100*rate, at[len(at)/2], c.median)
		}
	}
}

// One error budget per rollout: a background judge with half of alpha and
// one judge per step sharing the other half abort at most alpha of healthy
// rollouts, counting every judge and every metric, while both arms stall
// (0.02/s, 20% fail) and the weight climbs to where the canary outnumbers
// stable (40%, stable 20%: the canary is then the arm subsampled).
func TestSequentialRolloutErrorBudget(t *testing.T) {
	const alpha = 0.01
	weights := []float64{0.05, 0.10, 0.20, 0.40}
	const stepSeconds = 300
	arm := healthyArm()
	arm.stallChance, arm.failShare = 0.02, 0.2
	aborted := 0
	for seed := range uint64(1000) {
		r := rand.New(rand.NewPCG(seed, 0xb0d6e7))
		background := analysis.NewSequential(alpha / 2)
		var t0 analysis.Tick
	rollout:
		for i, w := range weights {
			step := analysis.NewSequential(alpha / 2 / float64(len(weights)))
			for sec := range stepSeconds {
				t0.Second = i*stepSeconds + sec
				t0.Arms[analysis.Stable] = arm.draw(r, 1000*(1-2*w))
				t0.Arms[analysis.Baseline] = arm.draw(r, 1000*w)
				t0.Arms[analysis.Canary] = arm.draw(r, 1000*w)
				if background.Observe(&t0).Rollback || step.Observe(&t0).Rollback {
					aborted++
					break rollout
				}
			}
		}
	}
	rate := float64(aborted) / 1000
	t.Logf("healthy rollouts aborted by any judge: %.1f%%", 100*rate)
	if rate > alpha {
		t.Errorf("%.1f%% of healthy rollouts aborted, want ≤ %.0f%% (one budget for all judges)", 100*rate, 100*alpha)
	}
}
