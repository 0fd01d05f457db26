package shipgate

import (
	"math"
	"reflect"
	"testing"
)

// One error budget per rollout: whatever judges a strategy runs, their
// alphas add up to the rollout's, the smallest any of them declares.
func TestStrategyErrorBudget(t *testing.T) {
	seq := func(alpha float64) *Analysis { return &Analysis{Sequential: &SequentialAnalysis{Alpha: alpha}} }
	metricOnly := &Analysis{Metrics: []AnalysisMetric{{Name: "m"}}}
	w := func(n int) CanaryStep { return CanaryStep{SetWeight: &n} }
	an := func(a *Analysis) CanaryStep { return CanaryStep{Analysis: a} }
	tests := []struct {
		name   string
		s      *Strategy
		alpha  float64
		judges []string
		shares []float64
	}{
		{"no strategy", nil, 0, nil, nil},
		{"canary without analyses", &Strategy{Canary: &CanaryStrategy{Steps: []CanaryStep{w(10), w(100)}}}, 0, nil, nil},
		{"threshold metrics have no alpha", &Strategy{Canary: &CanaryStrategy{Steps: []CanaryStep{w(10), an(metricOnly)}, BackgroundAnalysis: metricOnly}}, 0, nil, nil},
		{"background alone keeps its alpha", &Strategy{Canary: &CanaryStrategy{Steps: []CanaryStep{w(10)}, BackgroundAnalysis: seq(0)}},
			DefaultAlpha, []string{"background"}, []float64{DefaultAlpha}},
		{"background and two steps split evenly", &Strategy{Canary: &CanaryStrategy{
			Steps:              []CanaryStep{w(5), an(seq(0.01)), w(25), an(seq(0.01)), w(100)},
			BackgroundAnalysis: seq(0)}},
			0.01, []string{"background", "step 2", "step 4"}, []float64{0.01 / 3, 0.01 / 3, 0.01 / 3}},
		{"the strictest declared alpha is the rollout's, split in proportion", &Strategy{Canary: &CanaryStrategy{
			Steps:              []CanaryStep{w(5), an(seq(0.05))},
			BackgroundAnalysis: seq(0.1)}},
			0.05, []string{"background", "step 2"}, []float64{0.05 * 0.1 / 0.15, 0.05 * 0.05 / 0.15}},
		{"blue-green's one analysis", &Strategy{BlueGreen: &BlueGreenStrategy{Analysis: seq(0.05)}},
			0.05, []string{"step 1"}, []float64{0.05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.s.ErrorBudget()
			if b.Alpha != tt.alpha || !reflect.DeepEqual(b.Judges, tt.judges) || len(b.Shares) != len(tt.shares) {
				t.Fatalf("budget %+v, want alpha %g over %v", b, tt.alpha, tt.judges)
			}
			sum := 0.0
			for i, s := range b.Shares {
				if math.Abs(s-tt.shares[i]) > 1e-12 {
					t.Errorf("share of %s = %g, want %g", b.Judges[i], s, tt.shares[i])
				}
				sum += s
			}
			if len(b.Shares) > 0 && math.Abs(sum-b.Alpha) > 1e-12 {
				t.Errorf("shares add up to %g, not the rollout's alpha %g", sum, b.Alpha)
			}
			for i, j := range b.Judges {
				if s, ok := b.Share(j); !ok || s != b.Shares[i] {
					t.Errorf("Share(%q) = %g, %v", j, s, ok)
				}
			}
			if _, ok := b.Share("step 99"); ok {
				t.Error("Share of a judge the strategy does not run")
			}
		})
	}
}
