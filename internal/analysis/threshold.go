package analysis

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// DefaultErrorRetryInterval is how soon a metric without an Interval
// measures again after an Error measurement (or between the measurements
// of a Count without an Interval), as in Argo Rollouts.
const DefaultErrorRetryInterval = 10 * time.Second

// Measurement is one measured value and its assessment.
type Measurement struct {
	At     time.Time
	Values []float64
	// Phase is shipgate.AnalysisSuccessful, AnalysisFailed,
	// AnalysisInconclusive or AnalysisError.
	Phase string
	// Message explains the phase in a few words, such as `0.083 met the
	// failure condition "result > 0.05"` or the provider's error.
	Message string
}

// MetricRun is the state of one threshold metric under Argo Rollouts'
// AnalysisRun rules: it assesses each measurement against the metric's
// conditions, keeps the counts, and decides the metric's phase from the
// limits. It does no I/O and reads no clock, so a planner (or a test) can
// drive it with any times; RunMetric drives it with real timers.
// A MetricRun is not safe for concurrent use.
type MetricRun struct {
	metric           shipgate.AnalysisMetric
	success, failure *Condition
	condErr          error

	// Counts as in Argo's MetricResult: Count excludes errors.
	count, successful, failed, inconclusive, errors, consecutiveErrors int
	last                                                               *Measurement
	phase                                                              string
	stopped                                                            bool
	stoppedAt                                                          time.Time
}

// NewMetricRun starts the run of m. A condition that doesn't parse
// (configuration validation refuses those) puts the metric in error from
// the start rather than after ConsecutiveErrorLimit useless measurements.
func NewMetricRun(m shipgate.AnalysisMetric) *MetricRun {
	r := &MetricRun{metric: m}
	var err error
	if m.SuccessCondition != "" {
		if r.success, err = ParseCondition(m.SuccessCondition); err != nil {
			r.condErr = fmt.Errorf("success condition: %w", err)
		}
	}
	if m.FailureCondition != "" && r.condErr == nil {
		if r.failure, err = ParseCondition(m.FailureCondition); err != nil {
			r.condErr = fmt.Errorf("failure condition: %w", err)
		}
	}
	if r.condErr != nil {
		r.phase = shipgate.AnalysisError
	}
	return r
}

// Limits, with Argo's defaults. Negative limits (which validation refuses)
// count as 0.
func (r *MetricRun) failureLimit() int      { return max(r.metric.FailureLimit, 0) }
func (r *MetricRun) inconclusiveLimit() int { return max(r.metric.InconclusiveLimit, 0) }
func (r *MetricRun) consecutiveErrorLimit() int {
	if r.metric.ConsecutiveErrorLimit == nil {
		return shipgate.DefaultConsecutiveErrorLimit
	}
	return max(*r.metric.ConsecutiveErrorLimit, 0)
}

// effectiveCount is how many conclusive measurements finish the metric; 0
// means it runs until stopped (Count 0 with an Interval).
func (r *MetricRun) effectiveCount() int {
	switch {
	case r.metric.Count > 0:
		return r.metric.Count
	case r.metric.Interval == 0:
		return 1
	}
	return 0
}

// Record assesses one measurement and counts it:
//   - a provider error, or a condition that can't be evaluated on the
//     values (result[1] of one value), is an Error;
//   - the failure condition true is Failed; else the success condition
//     true is Successful; neither (both given) is Inconclusive;
//   - with only a success condition, false is Failed; with only a failure
//     condition, false is Successful; with neither, any value is Successful.
//
// Both conditions are evaluated, and an error in either makes the
// measurement an Error, as in Argo. A measurement recorded after the metric
// has its phase is assessed but no longer counted: the phase is final.
func (r *MetricRun) Record(at time.Time, values []float64, err error) Measurement {
	phase, msg := r.assess(values, err)
	ms := Measurement{At: at, Values: values, Phase: phase, Message: msg}
	if r.phase != "" {
		return ms
	}
	switch phase {
	case shipgate.AnalysisError:
		r.errors++
		r.consecutiveErrors++
	case shipgate.AnalysisSuccessful:
		r.successful++
	case shipgate.AnalysisFailed:
		r.failed++
	case shipgate.AnalysisInconclusive:
		r.inconclusive++
	}
	if phase != shipgate.AnalysisError {
		r.count++
		r.consecutiveErrors = 0
	}
	r.last = &ms
	r.phase = r.assessPhase()
	return ms
}

func (r *MetricRun) assess(values []float64, err error) (phase, msg string) {
	if err != nil {
		return shipgate.AnalysisError, err.Error()
	}
	if r.condErr != nil {
		return shipgate.AnalysisError, r.condErr.Error()
	}
	var succ, fail bool
	if r.success != nil {
		if succ, err = r.success.Eval(values); err != nil {
			return shipgate.AnalysisError, fmt.Sprintf("success condition %q: %v", r.success, err)
		}
	}
	if r.failure != nil {
		if fail, err = r.failure.Eval(values); err != nil {
			return shipgate.AnalysisError, fmt.Sprintf("failure condition %q: %v", r.failure, err)
		}
	}
	v := formatValues(values)
	switch {
	case r.failure != nil && fail:
		return shipgate.AnalysisFailed, fmt.Sprintf("%s met the failure condition %q", v, r.failure)
	case r.success != nil && succ:
		return shipgate.AnalysisSuccessful, fmt.Sprintf("%s met the success condition %q", v, r.success)
	case r.success != nil && r.failure != nil:
		return shipgate.AnalysisInconclusive, fmt.Sprintf("%s met neither the success condition %q nor the failure condition %q", v, r.success, r.failure)
	case r.success != nil:
		return shipgate.AnalysisFailed, fmt.Sprintf("%s missed the success condition %q", v, r.success)
	case r.failure != nil:
		return shipgate.AnalysisSuccessful, fmt.Sprintf("%s didn't meet the failure condition %q", v, r.failure)
	}
	return shipgate.AnalysisSuccessful, v + " measured (no condition to check)"
}

// assessPhase follows Argo's assessMetricStatus: the failure limit first,
// then the inconclusive limit, then consecutive errors, then the count.
func (r *MetricRun) assessPhase() string {
	if r.condErr != nil {
		return shipgate.AnalysisError
	}
	if r.last == nil && !r.stopped {
		return ""
	}
	switch {
	case r.failed > r.failureLimit():
		return shipgate.AnalysisFailed
	case r.inconclusive > r.inconclusiveLimit():
		return shipgate.AnalysisInconclusive
	case r.consecutiveErrors > r.consecutiveErrorLimit():
		return shipgate.AnalysisError
	case r.effectiveCount() > 0 && r.count >= r.effectiveCount():
		return shipgate.AnalysisSuccessful
	case r.stopped:
		return shipgate.AnalysisSuccessful
	}
	return ""
}

// Stop ends the run early, as Argo terminates an AnalysisRun: a metric that
// has exceeded no limit is then Successful — even one that runs until
// stopped, one stopped before its Count, and one whose failures, errors or
// inconclusive results so far are within their limits. The Decision's
// evidence says it was stopped and what was counted.
func (r *MetricRun) Stop(at time.Time) {
	if r.phase != "" {
		return
	}
	r.stopped, r.stoppedAt = true, at
	r.phase = r.assessPhase()
}

// Phase is "" while the metric runs, and then its final phase:
// shipgate.AnalysisFailed once failures exceed FailureLimit, AnalysisError
// once consecutive errors exceed ConsecutiveErrorLimit (default
// shipgate.DefaultConsecutiveErrorLimit), AnalysisInconclusive once
// inconclusive results exceed InconclusiveLimit, and AnalysisSuccessful
// once Count conclusive measurements are done (Count 0 without an Interval
// means 1; Count 0 with an Interval runs until Stop). Error measurements
// don't count towards Count: they are retried.
func (r *MetricRun) Phase() string { return r.phase }

// NextAt is when the next measurement is due: start+InitialDelay for the
// first, then Interval after the previous one (DefaultErrorRetryInterval
// without an Interval). It is zero once the metric has its phase.
func (r *MetricRun) NextAt(start time.Time) time.Time {
	if r.phase != "" {
		return time.Time{}
	}
	if r.last == nil {
		return start.Add(r.metric.InitialDelay.Std())
	}
	interval := r.metric.Interval.Std()
	if interval <= 0 {
		interval = DefaultErrorRetryInterval
	}
	return r.last.At.Add(interval)
}

// Decision reports the metric's state as an analysis decision: its phase
// ("" while running), a sentence a person can act on, and the counts and
// settings behind it.
func (r *MetricRun) Decision(step int) shipgate.AnalysisDecision {
	d := shipgate.AnalysisDecision{
		Step:    step,
		Judge:   "threshold",
		Metric:  r.metric.Name,
		Phase:   r.phase,
		Summary: r.summary(),
		Evidence: map[string]any{
			"measurements":            r.count + r.errors,
			"successful":              r.successful,
			"failed":                  r.failed,
			"inconclusive":            r.inconclusive,
			"errors":                  r.errors,
			"consecutive_errors":      r.consecutiveErrors,
			"count":                   r.effectiveCount(),
			"failure_limit":           r.failureLimit(),
			"inconclusive_limit":      r.inconclusiveLimit(),
			"consecutive_error_limit": r.consecutiveErrorLimit(),
		},
	}
	if r.metric.SuccessCondition != "" {
		d.Evidence["success_condition"] = r.metric.SuccessCondition
	}
	if r.metric.FailureCondition != "" {
		d.Evidence["failure_condition"] = r.metric.FailureCondition
	}
	if r.last != nil {
		d.At = r.last.At
		d.Evidence["last_values"] = jsonValues(r.last.Values)
		d.Evidence["last_phase"] = r.last.Phase
		d.Evidence["last_message"] = r.last.Message
	}
	if r.stopped {
		d.At = r.stoppedAt
		d.Evidence["stopped"] = true
	}
	if r.condErr != nil {
		d.Evidence["condition_error"] = r.condErr.Error()
	}
	return d
}

func (r *MetricRun) summary() string {
	name := fmt.Sprintf("metric %q", r.metric.Name)
	total := r.count + r.errors
	last := ""
	if r.last != nil {
		if r.last.Phase == shipgate.AnalysisError {
			last = "; last error: " + r.last.Message
		} else {
			last = "; last " + formatValues(r.last.Values)
		}
	}
	switch {
	case r.condErr != nil:
		return fmt.Sprintf("%s errored: its %v", name, r.condErr)
	case r.phase == shipgate.AnalysisFailed:
		return fmt.Sprintf("%s failed: %d of %d measurements %s (failure limit %d)%s",
			name, r.failed, total, r.failedWhat(), r.failureLimit(), last)
	case r.phase == shipgate.AnalysisInconclusive:
		return fmt.Sprintf("%s is inconclusive: %d of %d measurements met neither the success condition %q nor the failure condition %q (inconclusive limit %d)%s",
			name, r.inconclusive, total, r.metric.SuccessCondition, r.metric.FailureCondition, r.inconclusiveLimit(), last)
	case r.phase == shipgate.AnalysisError:
		return fmt.Sprintf("%s errored: %d measurements in a row could not be taken or evaluated (consecutive error limit %d)%s",
			name, r.consecutiveErrors, r.consecutiveErrorLimit(), last)
	case r.phase == shipgate.AnalysisSuccessful && r.stopped && total == 0:
		return fmt.Sprintf("%s passed: stopped before its first measurement", name)
	case r.phase == shipgate.AnalysisSuccessful:
		how := fmt.Sprintf("%d of %d measurements %s", r.successful, total, r.succeededWhat())
		if r.stopped {
			how = "stopped after " + plural(total, "measurement") + ", " + how
		}
		return fmt.Sprintf("%s passed: %s%s%s", name, how, r.withinLimits(), last)
	}
	progress := plural(total, "measurement") + " so far"
	if n := r.effectiveCount(); n > 0 {
		progress = fmt.Sprintf("%d of %d conclusive measurements so far", r.count, n)
	}
	return fmt.Sprintf("%s is running: %s (%d successful, %d failed, %d inconclusive, %d errors)%s",
		name, progress, r.successful, r.failed, r.inconclusive, r.errors, last)
}

func (r *MetricRun) failedWhat() string {
	if r.metric.FailureCondition != "" {
		return fmt.Sprintf("met the failure condition %q", r.metric.FailureCondition)
	}
	return fmt.Sprintf("missed the success condition %q", r.metric.SuccessCondition)
}

func (r *MetricRun) succeededWhat() string {
	switch {
	case r.metric.SuccessCondition != "":
		return fmt.Sprintf("met the success condition %q", r.metric.SuccessCondition)
	case r.metric.FailureCondition != "":
		return fmt.Sprintf("stayed clear of the failure condition %q", r.metric.FailureCondition)
	}
	return "were taken (no condition to check)"
}

// withinLimits mentions the bad results a passing metric tolerated.
func (r *MetricRun) withinLimits() string {
	var parts []string
	if r.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (failure limit %d)", r.failed, r.failureLimit()))
	}
	if r.inconclusive > 0 {
		parts = append(parts, fmt.Sprintf("%d inconclusive (inconclusive limit %d)", r.inconclusive, r.inconclusiveLimit()))
	}
	if r.errors > 0 {
		parts = append(parts, plural(r.errors, "error")+" retried")
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}

// formatValues renders a measurement's values for a sentence: "value
// 0.083", "values [0.01 0.2]", "no values".
func formatValues(values []float64) string {
	switch len(values) {
	case 0:
		return "no values"
	case 1:
		return "value " + formatFloat(values[0])
	}
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = formatFloat(v)
	}
	return "values [" + strings.Join(s, " ") + "]"
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// jsonValues makes values safe for encoding/json, which refuses NaN and
// ±Inf: those become the strings "NaN", "+Inf", "-Inf".
func jsonValues(values []float64) []any {
	out := make([]any, len(values))
	for i, v := range values {
		switch {
		case math.IsNaN(v):
			out[i] = "NaN"
		case math.IsInf(v, 1):
			out[i] = "+Inf"
		case math.IsInf(v, -1):
			out[i] = "-Inf"
		default:
			out[i] = v
		}
	}
	return out
}

// RunMetric measures m with p on its schedule (InitialDelay, then every
// Interval), with real timers, until the metric has its phase or ctx ends,
// calling onMeasure (if not nil) after each measurement. It returns the
// metric's decision.
//
// When ctx ends first, the run is stopped as Argo terminates an
// AnalysisRun (see MetricRun.Stop): a metric that runs until stopped, and
// one cut short, is Successful unless a limit was already exceeded. A
// measurement interrupted by ctx is not counted, so cancelling never turns
// into an Error. Callers that must not pass a cut-short analysis check the
// decision's "stopped" evidence.
func RunMetric(ctx context.Context, m shipgate.AnalysisMetric, p Provider, step int, onMeasure func(Measurement)) shipgate.AnalysisDecision {
	run := NewMetricRun(m)
	start := time.Now()
	for run.Phase() == "" {
		if d := time.Until(run.NextAt(start)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			run.Stop(time.Now())
			break
		}
		var values []float64
		err := fmt.Errorf("metric %q has no provider", m.Name)
		if p != nil {
			values, err = p.Measure(ctx)
		}
		if ctx.Err() != nil {
			run.Stop(time.Now())
			break
		}
		ms := run.Record(time.Now(), values, err)
		if onMeasure != nil {
			onMeasure(ms)
		}
	}
	return run.Decision(step)
}
