package judgesim

import (
	"strings"
	"testing"
)

func TestScenarioValidate(t *testing.T) {
	s := &Scenario{Name: "x", Expect: "maybe", Duration: 0, Rate: Const(-1), CanaryWeight: Const(0.6), LatencyMedian: 100, LatencySigma: 0.5}
	err := s.Validate()
	if err == nil {
		t.Fatal("a bad scenario passed")
	}
	for _, want := range []string{"expect", "duration", "rate", "canary_weight", "stable.error_rate is missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}
