package judgesim

import (
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/analysis"
)

// JudgeFactory makes a fresh judge for one simulated canary: judges keep
// state and are not safe for concurrent use, and every run starts afresh.
type JudgeFactory struct {
	Name string
	New  func(env analysis.JudgeEnv) analysis.Judge
}

// BenchJudges are the judges the benchmark compares: shipgate's
// sequential judge, at the alpha a rollout uses by default, and the
// reference judges.
func BenchJudges() []JudgeFactory {
	return []JudgeFactory{
		{Name: "sequential", New: func(analysis.JudgeEnv) analysis.Judge { return analysis.NewSequential(shipgate.DefaultAlpha) }},
		{Name: "argo-60s", New: func(env analysis.JudgeEnv) analysis.Judge { return analysis.NewArgo(60, env) }},
		{Name: "argo-15s", New: func(env analysis.JudgeEnv) analysis.Judge { return analysis.NewArgo(15, env) }},
		{Name: "kayenta-5m", New: func(analysis.JudgeEnv) analysis.Judge { return analysis.NewKayenta(5) }},
		{Name: "kayenta-10m", New: func(analysis.JudgeEnv) analysis.Judge { return analysis.NewKayenta(10) }},
	}
}
