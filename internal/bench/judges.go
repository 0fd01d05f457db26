package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shipgate/shipgate/internal/judgesim"
)

// PickJudges turns --judges into the judges to run; empty means all.
func PickJudges(list string) ([]judgesim.JudgeFactory, error) {
	all := judgesim.BenchJudges()
	if list == "" {
		return all, nil
	}
	var out []judgesim.JudgeFactory
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, f := range all {
			if f.Name == name {
				out = append(out, f)
				found = true
			}
		}
		if !found {
			var names []string
			for _, f := range all {
				names = append(names, f.Name)
			}
			return nil, fmt.Errorf("unknown judge %q (known: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// PrintJudges writes the results of `bench judges` as its table.
func PrintJudges(w io.Writer, scenarios []*judgesim.Scenario, results []judgesim.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECT\tJUDGE\tROLLBACK\tMEDIAN\tP90\tCANARY REQS\tEXCESS BAD\t")
	num := func(v *float64, unit string) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.0f%s", *v, unit)
	}
	for _, r := range results {
		rate := fmt.Sprintf("%.1f%%", 100*r.RollbackRate)
		if !r.Correct(0.01) {
			rate += " ✗"
		}
		excess := "–"
		if r.ExcessBad != nil {
			excess = fmt.Sprintf("%.1f", *r.ExcessBad)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Expect, r.Judge, rate,
			num(r.MedianS, " s"), num(r.P90S, " s"), num(r.CanaryRequests, ""), excess)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nROLLBACK is the share of runs rolled back: false rollbacks where the scenario expects promote, detections where it expects rollback; ✗ marks more than 1%% wrong. Times and medians are over the runs rolled back.\n")
	return err
}
