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
// reference judges. Each gets the scenario's warm-up (env.Warmup) through
// its own setting: shipgate's warm-up wrapper (also after each weight
// change), Argo's initialDelay and Kayenta's begin-after (at the start
// only, as those products do).
func BenchJudges() []JudgeFactory {
	return []JudgeFactory{
		{Name: "sequential", New: func(env analysis.JudgeEnv) analysis.Judge {
			return analysis.NewWarmup(analysis.NewSequential(shipgate.DefaultAlpha), env.Warmup)
		}},
		{Name: "argo-60s", New: func(env analysis.JudgeEnv) analysis.Judge { return analysis.NewArgo(60, env) }},
		{Name: "argo-15s", New: func(env analysis.JudgeEnv) analysis.Judge { return analysis.NewArgo(15, env) }},
		{Name: "kayenta-5m", New: func(env analysis.JudgeEnv) analysis.Judge { return analysis.NewKayenta(5, env) }},
		{Name: "kayenta-10m", New: func(env analysis.JudgeEnv) analysis.Judge { return analysis.NewKayenta(10, env) }},
	}
}
