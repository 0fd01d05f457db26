package judgesim

import (
	"context"
	"math"
	"runtime"
	"sync"
)

// Result is one judge on one scenario over all runs.
type Result struct {
	Judge    string `json:"judge"`
	Scenario string `json:"scenario"`
	Expect   string `json:"expect"`
	Runs     int    `json:"runs"`
	// RollbackRate is the share of runs rolled back: false rollbacks when
	// Expect is promote, detections when it is rollback.
	RollbackRate float64 `json:"rollback_rate"`
	// MedianS and P90S are times to rollback over the runs rolled back;
	// nil when none was.
	MedianS *float64 `json:"median_s"`
	P90S    *float64 `json:"p90_s"`
	// CanaryRequests and ExcessBad are medians, over the runs rolled back,
	// of the requests the canary served and of the bad responses it served
	// beyond stable's rate before the rollback; nil when none was.
	CanaryRequests *float64 `json:"canary_requests"`
	ExcessBad      *float64 `json:"excess_bad"`
	// Example is one rolled-back run's reason, to read what the judge saw.
	Example string `json:"example,omitempty"`
}

// Correct reports whether the judge reached the scenario's ground truth in
// all but the given share of runs.
func (r Result) Correct(tolerance float64) bool {
	if r.Expect == ExpectRollback {
		return 1-r.RollbackRate <= tolerance
	}
	return r.RollbackRate <= tolerance
}

// BenchOptions control a benchmark run.
type BenchOptions struct {
	Runs   int
	Seed   uint64
	Judges []JudgeFactory
	// Workers run canaries in parallel; 0 means GOMAXPROCS. Results do not
	// depend on it.
	Workers int
	// Progress, when set, is called after each scenario.
	Progress func(done, total int, s *Scenario)
}

// Bench runs every scenario opts.Runs times through every judge and
// returns one result per judge and scenario, scenario by scenario in the
// order given, judges in the order given.
func Bench(ctx context.Context, scenarios []*Scenario, opts BenchOptions) ([]Result, error) {
	if opts.Judges == nil {
		opts.Judges = BenchJudges()
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var results []Result
	for si, s := range scenarios {
		outcomes := make([][]Outcome, opts.Runs) // [run][judge]
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for run := range next {
					outcomes[run] = Simulate(s, opts.Judges, opts.Seed, uint64(run))
				}
			})
		}
	feed:
		for run := range opts.Runs {
			select {
			case next <- run:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for ji, j := range opts.Judges {
			results = append(results, summarize(s, j.Name, ji, outcomes))
		}
		if opts.Progress != nil {
			opts.Progress(si+1, len(scenarios), s)
		}
	}
	return results, nil
}

func summarize(s *Scenario, judge string, ji int, outcomes [][]Outcome) Result {
	res := Result{Judge: judge, Scenario: s.Name, Expect: s.Expect, Runs: len(outcomes)}
	var secs, reqs, excess []float64
	for _, o := range outcomes {
		o := o[ji]
		if !o.RolledBack {
			continue
		}
		if res.Example == "" {
			res.Example = o.Reason
		}
		secs = append(secs, float64(o.Seconds))
		reqs = append(reqs, float64(o.CanaryRequests))
		excess = append(excess, o.ExcessBad)
	}
	if len(outcomes) > 0 {
		res.RollbackRate = float64(len(secs)) / float64(len(outcomes))
	}
	if len(secs) > 0 {
		res.MedianS, res.P90S = ptr(Quantile(secs, 0.5)), ptr(Quantile(secs, 0.9))
		res.CanaryRequests = ptr(Quantile(reqs, 0.5))
		res.ExcessBad = ptr(math.Round(Quantile(excess, 0.5)*10) / 10)
	}
	return res
}

func ptr(v float64) *float64 { return &v }
