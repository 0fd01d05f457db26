package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

const (
	ok   = shipgate.AnalysisSuccessful
	fail = shipgate.AnalysisFailed
	inc  = shipgate.AnalysisInconclusive
	errd = shipgate.AnalysisError
)

func intp(n int) *int { return &n }

// testMetric has both conditions: 0.5 succeeds, 3 fails, 1.5 is
// inconclusive.
func testMetric(mod func(*shipgate.AnalysisMetric)) shipgate.AnalysisMetric {
	m := shipgate.AnalysisMetric{
		Name:             "error-rate",
		Interval:         shipgate.Duration(time.Second),
		Count:            10,
		SuccessCondition: "result < 1",
		FailureCondition: "result > 2",
	}
	if mod != nil {
		mod(&m)
	}
	return m
}

// outcome letters: s success, f failure, i inconclusive, e provider error.
func record(r *MetricRun, at time.Time, o byte) Measurement {
	switch o {
	case 's':
		return r.Record(at, []float64{0.5}, nil)
	case 'f':
		return r.Record(at, []float64{3}, nil)
	case 'i':
		return r.Record(at, []float64{1.5}, nil)
	}
	return r.Record(at, nil, errors.New("prometheus is unreachable"))
}

func TestMetricRunLimits(t *testing.T) {
	tests := []struct {
		name     string
		metric   shipgate.AnalysisMetric
		outcomes string
		// phases after each measurement; "-" is still running.
		phases []string
	}{
		{"failure limit 0 fails on the first failure", testMetric(nil), "sf", []string{"-", fail}},
		{"failure limit 2 fails on the third", testMetric(func(m *shipgate.AnalysisMetric) { m.FailureLimit = 2 }),
			"fsfsf", []string{"-", "-", "-", "-", fail}},
		{"failures within the limit pass at the count", testMetric(func(m *shipgate.AnalysisMetric) { m.FailureLimit = 2; m.Count = 5 }),
			"fsfss", []string{"-", "-", "-", "-", ok}},
		{"failure on the last counted measurement", testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 1 }),
			"f", []string{fail}},
		{"default consecutive error limit 4: the 5th error", testMetric(nil),
			"eeeee", []string{"-", "-", "-", "-", errd}},
		{"a success resets consecutive errors", testMetric(func(m *shipgate.AnalysisMetric) { m.ConsecutiveErrorLimit = intp(1) }),
			"esesee", []string{"-", "-", "-", "-", "-", errd}},
		{"a failure resets consecutive errors too", testMetric(func(m *shipgate.AnalysisMetric) { m.ConsecutiveErrorLimit = intp(1); m.FailureLimit = 5 }),
			"efee", []string{"-", "-", "-", errd}},
		{"consecutive error limit 0: the first error", testMetric(func(m *shipgate.AnalysisMetric) { m.ConsecutiveErrorLimit = intp(0) }),
			"e", []string{errd}},
		{"inconclusive limit 0", testMetric(nil), "si", []string{"-", inc}},
		{"inconclusive limit 1: the second", testMetric(func(m *shipgate.AnalysisMetric) { m.InconclusiveLimit = 1 }),
			"isi", []string{"-", "-", inc}},
		{"count 0 without interval: one measurement", testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 0; m.Interval = 0 }),
			"s", []string{ok}},
		{"errors are retried and don't count", testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 0; m.Interval = 0 }),
			"ees", []string{"-", "-", ok}},
		{"count 3 counts conclusive measurements", testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 3 }),
			"sess", []string{"-", "-", "-", ok}},
		{"count 0 with an interval runs until stopped", testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 0 }),
			"ssssssssssssssssssss", strings.Split(strings.Repeat("-", 20), "")},
		{"negative limits count as 0", testMetric(func(m *shipgate.AnalysisMetric) { m.FailureLimit = -1; m.InconclusiveLimit = -3 }),
			"ssf", []string{"-", "-", fail}},
		{"the phase is final", testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 2 }),
			"ssfff", []string{"-", ok, ok, ok, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewMetricRun(tt.metric)
			t0 := time.Unix(1e9, 0)
			for i := range len(tt.outcomes) {
				record(r, t0.Add(time.Duration(i)*time.Second), tt.outcomes[i])
				want := tt.phases[i]
				if want == "-" {
					want = ""
				}
				if got := r.Phase(); got != want {
					t.Fatalf("after %q: phase %q, want %q (%s)", tt.outcomes[:i+1], got, want, r.Decision(0).Summary)
				}
			}
		})
	}
}

func TestMetricRunAssessment(t *testing.T) {
	tests := []struct {
		success, failure string
		values           []float64
		want             string
		msg              string
	}{
		{"result < 1", "result > 2", []float64{0.5}, ok, `value 0.5 met the success condition "result < 1"`},
		{"result < 1", "result > 2", []float64{3}, fail, `value 3 met the failure condition "result > 2"`},
		{"result < 1", "result > 2", []float64{1.5}, inc, "met neither"},
		{"result < 5", "result > 2", []float64{3}, fail, "failure condition"}, // both true: failure wins
		{"result < 1", "", []float64{0.5}, ok, "met the success condition"},
		{"result < 1", "", []float64{3}, fail, `value 3 missed the success condition "result < 1"`},
		{"", "result > 2", []float64{0.5}, ok, `didn't meet the failure condition "result > 2"`},
		{"", "result > 2", []float64{3}, fail, "met the failure condition"},
		{"", "", []float64{42}, ok, "no condition to check"},
		{"", "", nil, ok, "no values"},
		{"result[1] < 1", "", []float64{0.5}, errd, `success condition "result[1] < 1": result[1] is out of range: the query returned 1 value`},
		{"result < 1", "result[0] > 2", nil, errd, "result is empty"},
		// An error in either condition is an Error, as in Argo.
		{"result[0] < 1", "result[1] > 2", []float64{0.5}, errd, `failure condition "result[1] > 2"`},
		{"result < 1", "", []float64{math.NaN()}, fail, "value NaN missed"},
		{"result < 1", "isNaN(result)", []float64{math.NaN()}, fail, "met the failure condition"},
		{"result[0] < 1 && result[1] < 1", "", []float64{0.5, 0.25}, ok, "values [0.5 0.25]"},
	}
	for _, tt := range tests {
		r := NewMetricRun(shipgate.AnalysisMetric{Name: "m", SuccessCondition: tt.success, FailureCondition: tt.failure})
		ms := r.Record(time.Unix(1e9, 0), tt.values, nil)
		if ms.Phase != tt.want || !strings.Contains(ms.Message, tt.msg) {
			t.Errorf("success %q, failure %q, values %v: %s %q, want %s containing %q", tt.success, tt.failure, tt.values, ms.Phase, ms.Message, tt.want, tt.msg)
		}
	}
	r := NewMetricRun(shipgate.AnalysisMetric{Name: "m", SuccessCondition: "result < 1"})
	ms := r.Record(time.Unix(1e9, 0), []float64{0.1}, errors.New("connection refused"))
	if ms.Phase != errd || ms.Message != "connection refused" {
		t.Errorf("provider error: %s %q", ms.Phase, ms.Message)
	}
}

func TestMetricRunBadCondition(t *testing.T) {
	r := NewMetricRun(shipgate.AnalysisMetric{Name: "m", SuccessCondition: "result <"})
	if r.Phase() != errd {
		t.Fatalf("phase %q, want error from the start", r.Phase())
	}
	if !r.NextAt(time.Now()).IsZero() {
		t.Errorf("NextAt is not zero for a metric in error")
	}
	d := RunMetric(context.Background(), shipgate.AnalysisMetric{Name: "m", FailureCondition: "result = 1"}, nil, 0, nil)
	if d.Phase != errd || !strings.Contains(d.Summary, `failure condition: condition "result = 1", character 8`) {
		t.Errorf("RunMetric with a bad condition: %s %q", d.Phase, d.Summary)
	}
}

func TestMetricRunNextAt(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	r := NewMetricRun(testMetric(func(m *shipgate.AnalysisMetric) {
		m.InitialDelay = shipgate.Duration(5 * time.Second)
		m.Interval = shipgate.Duration(10 * time.Second)
		m.Count = 2
	}))
	if got := r.NextAt(t0); !got.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("first NextAt = %v, want start+5s", got.Sub(t0))
	}
	record(r, t0.Add(6*time.Second), 's')
	if got := r.NextAt(t0); !got.Equal(t0.Add(16 * time.Second)) {
		t.Errorf("second NextAt = %v, want 16s (Interval after the last)", got.Sub(t0))
	}
	record(r, t0.Add(16*time.Second), 's')
	if got := r.NextAt(t0); !got.IsZero() {
		t.Errorf("NextAt after the count = %v, want zero", got)
	}

	// Without an Interval, an error is retried after DefaultErrorRetryInterval.
	r = NewMetricRun(testMetric(func(m *shipgate.AnalysisMetric) { m.Interval = 0; m.Count = 0 }))
	if got := r.NextAt(t0); !got.Equal(t0) {
		t.Errorf("first NextAt without delay = %v", got.Sub(t0))
	}
	record(r, t0.Add(time.Second), 'e')
	if got := r.NextAt(t0); !got.Equal(t0.Add(time.Second + DefaultErrorRetryInterval)) {
		t.Errorf("retry NextAt = %v", got.Sub(t0))
	}
}

func TestMetricRunStop(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	indefinite := testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 0; m.FailureLimit = 1 })
	tests := []struct {
		name     string
		metric   shipgate.AnalysisMetric
		outcomes string
		want     string
		summary  string
	}{
		{"indefinite, all good", indefinite, "sss", ok, `metric "error-rate" passed: stopped after 3 measurements, 3 of 3 measurements met the success condition "result < 1"; last value 0.5`},
		{"indefinite, failure within the limit", indefinite, "sfs", ok, "1 failed (failure limit 1)"},
		{"indefinite, errors within the limit", indefinite, "see", ok, "2 errors retried; last error: prometheus is unreachable"},
		{"before the first measurement", indefinite, "", ok, `metric "error-rate" passed: stopped before its first measurement`},
		{"cut short before its count", testMetric(nil), "ss", ok, "stopped after 2 measurements"},
		{"already failed", indefinite, "ff", fail, "failed: 2 of 2"},
	}
	for _, tt := range tests {
		r := NewMetricRun(tt.metric)
		for i := range len(tt.outcomes) {
			record(r, t0.Add(time.Duration(i)*time.Second), tt.outcomes[i])
		}
		r.Stop(t0.Add(time.Minute))
		d := r.Decision(2)
		if d.Phase != tt.want || !strings.Contains(d.Summary, tt.summary) {
			t.Errorf("%s: %s %q, want %s containing %q", tt.name, d.Phase, d.Summary, tt.want, tt.summary)
		}
		if tt.want == ok && d.Evidence["stopped"] != true {
			t.Errorf("%s: evidence doesn't say stopped: %v", tt.name, d.Evidence)
		}
	}
}

func TestMetricRunDecision(t *testing.T) {
	m := shipgate.AnalysisMetric{
		Name: "error-rate", Interval: shipgate.Duration(time.Minute), Count: 10,
		FailureCondition: "result > 0.05", FailureLimit: 2,
	}
	r := NewMetricRun(m)
	t0 := time.Unix(1e9, 0).UTC()
	for i, v := range []float64{0.01, 0.09, 0.02, 0.07, 0.083} {
		r.Record(t0.Add(time.Duration(i)*time.Minute), []float64{v}, nil)
	}
	d := r.Decision(3)
	want := `metric "error-rate" failed: 3 of 5 measurements met the failure condition "result > 0.05" (failure limit 2); last value 0.083`
	if d.Summary != want {
		t.Errorf("summary\n got %s\nwant %s", d.Summary, want)
	}
	if d.Judge != "threshold" || d.Metric != "error-rate" || d.Phase != fail || d.Step != 3 || !d.At.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("decision %+v", d)
	}
	for k, v := range map[string]any{"measurements": 5, "failed": 3, "successful": 2, "failure_limit": 2, "count": 10,
		"failure_condition": "result > 0.05", "consecutive_error_limit": 4, "last_phase": fail} {
		if d.Evidence[k] != v {
			t.Errorf("evidence[%s] = %v, want %v", k, d.Evidence[k], v)
		}
	}

	// Success-only and error summaries, and evidence that survives JSON
	// although the values are NaN and +Inf.
	r = NewMetricRun(shipgate.AnalysisMetric{Name: "p99", SuccessCondition: "result[0] < 300", Count: 3, Interval: 1})
	r.Record(t0, []float64{math.NaN(), math.Inf(1)}, nil)
	d = r.Decision(-1)
	if d.Phase != fail || !strings.Contains(d.Summary, `1 of 1 measurements missed the success condition "result[0] < 300" (failure limit 0); last values [NaN +Inf]`) {
		t.Errorf("summary %q", d.Summary)
	}
	b, err := json.Marshal(d)
	if err != nil || !strings.Contains(string(b), `"last_values":["NaN","+Inf"]`) {
		t.Errorf("json %s, %v", b, err)
	}

	r = NewMetricRun(shipgate.AnalysisMetric{Name: "up", SuccessCondition: "result == 1", ConsecutiveErrorLimit: intp(1)})
	r.Record(t0, nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	if d := r.Decision(0); d.Phase != "" || !strings.Contains(d.Summary, `metric "up" is running: 0 of 1 conclusive measurements so far (0 successful, 0 failed, 0 inconclusive, 1 errors); last error: dial tcp`) {
		t.Errorf("running summary %q", d.Summary)
	}
	r.Record(t0, nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	if d := r.Decision(0); d.Phase != errd || !strings.Contains(d.Summary, `metric "up" errored: 2 measurements in a row could not be taken or evaluated (consecutive error limit 1); last error: dial tcp`) {
		t.Errorf("error summary %q", d.Summary)
	}

	r = NewMetricRun(shipgate.AnalysisMetric{Name: "q", SuccessCondition: "result < 1", FailureCondition: "result > 2", Count: 5, InconclusiveLimit: 1, Interval: 1})
	r.Record(t0, []float64{1.5}, nil)
	r.Record(t0, []float64{1.5}, nil)
	if d := r.Decision(0); d.Phase != inc || !strings.Contains(d.Summary, `metric "q" is inconclusive: 2 of 2 measurements met neither the success condition "result < 1" nor the failure condition "result > 2" (inconclusive limit 1); last value 1.5`) {
		t.Errorf("inconclusive summary %q", d.Summary)
	}
}

// fakeProvider returns scripted results, then repeats the last.
type fakeProvider struct {
	mu      sync.Mutex
	results []fakeResult
	calls   int
	block   bool // wait for ctx instead
}

type fakeResult struct {
	values []float64
	err    error
}

func (p *fakeProvider) Measure(ctx context.Context) ([]float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.block {
		p.mu.Unlock()
		<-ctx.Done()
		p.mu.Lock()
		return nil, ctx.Err()
	}
	r := p.results[min(p.calls, len(p.results)-1)]
	p.calls++
	return r.values, r.err
}

func TestRunMetric(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		p := &fakeProvider{results: []fakeResult{{values: []float64{0.5}}, {err: errors.New("boom")}, {values: []float64{0.5}}}}
		m := testMetric(func(m *shipgate.AnalysisMetric) {
			m.Count = 3
			m.Interval = shipgate.Duration(5 * time.Millisecond)
			m.InitialDelay = shipgate.Duration(20 * time.Millisecond)
		})
		start := time.Now()
		var seen []Measurement
		d := RunMetric(context.Background(), m, p, 1, func(ms Measurement) { seen = append(seen, ms) })
		if d.Phase != ok || len(seen) != 4 || seen[1].Phase != errd {
			t.Fatalf("decision %s %q after %d measurements", d.Phase, d.Summary, len(seen))
		}
		if first := seen[0].At.Sub(start); first < 20*time.Millisecond {
			t.Errorf("first measurement after %v, before the initial delay", first)
		}
		for i := 1; i < len(seen); i++ {
			if gap := seen[i].At.Sub(seen[i-1].At); gap < 5*time.Millisecond {
				t.Errorf("measurement %d only %v after the previous", i, gap)
			}
		}
	})
	t.Run("failure stops early", func(t *testing.T) {
		p := &fakeProvider{results: []fakeResult{{values: []float64{3}}}}
		d := RunMetric(context.Background(), testMetric(func(m *shipgate.AnalysisMetric) { m.Interval = 1 }), p, 0, nil)
		if d.Phase != fail || p.calls != 1 {
			t.Fatalf("%s after %d calls", d.Phase, p.calls)
		}
	})
	t.Run("indefinite until cancelled", func(t *testing.T) {
		p := &fakeProvider{results: []fakeResult{{values: []float64{0.5}}}}
		m := testMetric(func(m *shipgate.AnalysisMetric) { m.Count = 0; m.Interval = shipgate.Duration(time.Millisecond) })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		d := RunMetric(ctx, m, p, -1, func(Measurement) {
			if n++; n == 3 {
				cancel()
			}
		})
		if d.Phase != ok || d.Evidence["stopped"] != true || d.Evidence["measurements"] != 3 {
			t.Fatalf("%s %q %v", d.Phase, d.Summary, d.Evidence)
		}
	})
	t.Run("cancelled mid-measurement is not an error", func(t *testing.T) {
		p := &fakeProvider{block: true}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		d := RunMetric(ctx, testMetric(nil), p, 0, func(Measurement) { t.Error("an interrupted measurement was recorded") })
		if d.Phase != ok || d.Evidence["errors"] != 0 || d.Evidence["measurements"] != 0 {
			t.Fatalf("%s %q", d.Phase, d.Summary)
		}
	})
	t.Run("no provider errors", func(t *testing.T) {
		m := testMetric(func(m *shipgate.AnalysisMetric) { m.Interval = 1 })
		d := RunMetric(context.Background(), m, nil, 0, nil)
		if d.Phase != errd || !strings.Contains(d.Summary, "has no provider") {
			t.Fatalf("%s %q", d.Phase, d.Summary)
		}
	})
}
