package config_test

import (
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

// A rollback_strategy may move traffic back gradually, but never hold it
// on the version being rolled back: weights start above 0 and only grow,
// no pause comes before the first weight, and timed pauses total at most
// 15 minutes. Each is refused at apply, at its line.
func TestParseRollbackStrategyLimits(t *testing.T) {
	tests := []struct {
		name     string
		block    string
		wantLine int
		wantMsg  string
	}{
		{"weight 0 then a year", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 0
            - pause: 8760h
`, 13, "set_weight: 0 sends no traffic to the restored version"},
		{"a year of pauses", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 10
            - pause: 8760h
`, 12, "at most 15m0s"},
		{"pauses add up", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 10
            - pause: 10m
            - set_weight: 50
            - pause: 6m
`, 12, "total more than 15m0s"},
		{"a sum that overflows", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 10
            - pause: 14m
            - pause: 2562047h47m16s
`, 12, "at most 15m0s"},
		{"weights go down", `      rollback_strategy:
        canary:
          steps:
            - set_weight: 50
            - set_weight: 20
`, 14, "a rollback's weights only increase"},
		{"pause before any weight", `      rollback_strategy:
        canary:
          steps:
            - pause: 30s
            - set_weight: 50
`, 13, "before the first set_weight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRollbackProblem(t, tt.block, tt.wantLine, tt.wantMsg) })
	}
	// Within the limits: accepted.
	if _, err := config.ParseService("svc.yaml", []byte(rollbackPolicy(`      rollback_strategy:
        canary:
          steps:
            - set_weight: 25
            - pause: 5m
            - set_weight: 50
            - pause: 10m
            - set_weight: 100
`))); err != nil {
		t.Fatalf("a rollback_strategy within the limits: %v", err)
	}
}
