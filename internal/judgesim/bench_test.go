package judgesim

import (
	"context"
	"testing"

	"github.com/shipgate/shipgate/internal/analysis"
)

// TestBenchWorkers checks that results do not depend on how many workers
// simulate the runs.
func TestBenchWorkers(t *testing.T) {
	s := testScenario("step", ExpectRollback, 600)
	s.Arms[analysis.Canary].ErrorRate = Const(0.5)
	res, err := Bench(context.Background(), []*Scenario{s}, BenchOptions{Runs: 20, Seed: 1, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	res1, err := Bench(context.Background(), []*Scenario{s}, BenchOptions{Runs: 20, Seed: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(BenchJudges()) || len(res1) != len(res) {
		t.Fatalf("%d and %d results, want one per judge (%d)", len(res), len(res1), len(BenchJudges()))
	}
	for i := range res {
		if res[i].RollbackRate != res1[i].RollbackRate || *res[i].MedianS != *res1[i].MedianS {
			t.Errorf("results depend on the worker count: %+v vs %+v", res[i], res1[i])
		}
	}
}
