package promtest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil/promtest"
)

// recorder keeps what CheckMetrics reports instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// CheckMetrics does fail on what promtool refuses, and passes a clean
// exposition.
func TestCheckMetricsCatchesLintProblems(t *testing.T) {
	for _, tc := range []struct{ name, exposition, want string }{
		{"counter without _total", "# HELP x_requests Requests.\n# TYPE x_requests counter\nx_requests 1\n", `counter metrics should have "_total" suffix`},
		{"no HELP", "# TYPE x_total counter\nx_total 1\n", "no help text"},
		{"abbreviated unit", "# HELP x_latency_ms Latency.\n# TYPE x_latency_ms gauge\nx_latency_ms 1\n", "abbreviated units"},
		{"not the format", "x{ 1\n", "error while linting"},
		{"clean", "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total{a=\"b\"} 1\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			promtest.CheckMetrics(rec, []byte(tc.exposition))
			got := strings.Join(rec.msgs, "\n")
			if tc.want == "" && got != "" {
				t.Fatalf("a clean exposition was reported:\n%s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("reported\n%s\nwhich does not contain %q", got, tc.want)
			}
		})
	}
}
