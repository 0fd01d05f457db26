package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// maxPrometheusBody bounds a Prometheus answer; a range query over many
// series can be large, but never this large for a threshold.
const maxPrometheusBody = 16 << 20

// prometheus queries Prometheus's HTTP API (/api/v1/query, or
// /api/v1/query_range with a Range) with the standard library: the answer's
// shape is small and stable, and it keeps go.mod short.
type prometheus struct {
	base    string // address without a trailing slash
	shown   string // address for messages, without a password
	query   string
	rng     time.Duration
	step    time.Duration
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

func newPrometheus(m shipgate.PrometheusMetric, client *http.Client) (*prometheus, error) {
	u, err := url.Parse(m.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus address %q must be an http:// or https:// URL such as http://127.0.0.1:9090", m.Address)
	}
	if strings.TrimSpace(m.Query) == "" {
		return nil, fmt.Errorf("prometheus metric needs a query")
	}
	if m.Range < 0 || m.Step < 0 {
		return nil, fmt.Errorf("prometheus range and step must not be negative")
	}
	if m.Step > 0 && m.Range == 0 {
		return nil, fmt.Errorf("prometheus step %s needs a range", m.Step.Std())
	}
	p := &prometheus{
		base: strings.TrimSuffix(m.Address, "/"), shown: u.Redacted(), query: m.Query,
		rng: m.Range.Std(), step: m.EffectiveStep(), timeout: timeoutOr(m.Timeout), client: client, now: time.Now,
	}
	if p.rng > 0 && p.rng/p.step > shipgate.MaxPrometheusPoints {
		return nil, fmt.Errorf("prometheus range %s at step %s exceeds Prometheus's 11,000 points per series", p.rng, p.step)
	}
	return p, nil
}

// promResponse is the envelope of every /api/v1 answer.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// promSeries is one series of a vector (Value) or a matrix (Values).
type promSeries struct {
	Metric    map[string]string `json:"metric"`
	Value     []any             `json:"value"`
	Values    [][]any           `json:"values"`
	Histogram json.RawMessage   `json:"histogram"`
}

// Measure runs the query at the current time. The values are, by result
// type:
//   - scalar: the one value;
//   - vector: each series' value, the series ordered by their label sets,
//     so that result[i] names the same series from one measurement to the
//     next;
//   - matrix (a range query): every sample of every series, series in
//     label-set order and samples oldest first — the whole range, so a
//     condition can look at all of it.
//
// An empty answer is an empty slice: a condition on result[0] then fails
// to evaluate and the measurement is an Error.
func (p *prometheus) Measure(ctx context.Context) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	now := p.now()
	q := url.Values{"query": {p.query}}
	endpoint := "/api/v1/query"
	if p.rng > 0 {
		endpoint = "/api/v1/query_range"
		q.Set("start", promTime(now.Add(-p.rng)))
		q.Set("end", promTime(now))
		q.Set("step", strconv.FormatFloat(p.step.Seconds(), 'f', -1, 64))
	} else {
		q.Set("time", promTime(now))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("prometheus at %s: %w", p.shown, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, fmt.Errorf("prometheus at %s did not answer within %s", p.shown, p.timeout)
		}
		return nil, fmt.Errorf("prometheus at %s is unreachable: %w", p.shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPrometheusBody+1))
	if err != nil {
		return nil, fmt.Errorf("prometheus at %s: reading the answer: %w", p.shown, err)
	}
	if len(body) > maxPrometheusBody {
		return nil, fmt.Errorf("prometheus at %s answered more than %d MiB", p.shown, maxPrometheusBody>>20)
	}
	var r promResponse
	jsonErr := json.Unmarshal(body, &r)
	switch {
	case jsonErr == nil && r.Status == "error":
		return nil, fmt.Errorf("prometheus at %s refused the query (HTTP %d, %s): %s", p.shown, resp.StatusCode, r.ErrorType, r.Error)
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("prometheus at %s answered HTTP %d: %s", p.shown, resp.StatusCode, snippet(body))
	case jsonErr != nil:
		return nil, fmt.Errorf("prometheus at %s answered something that isn't its JSON API (%v): %s", p.shown, jsonErr, snippet(body))
	case r.Status != "success":
		return nil, fmt.Errorf("prometheus at %s answered status %q", p.shown, r.Status)
	}
	values, err := promValues(r.Data.ResultType, r.Data.Result)
	if err != nil {
		return nil, fmt.Errorf("prometheus at %s: %w", p.shown, err)
	}
	return values, nil
}

// promTime renders t as Prometheus's Unix seconds with milliseconds.
func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func promValues(resultType string, raw json.RawMessage) ([]float64, error) {
	switch resultType {
	case "scalar":
		var s []any
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("bad scalar result: %w", err)
		}
		v, err := promSample(s)
		if err != nil {
			return nil, err
		}
		return []float64{v}, nil
	case "vector", "matrix":
	case "string":
		return nil, fmt.Errorf("the query returned a string, not numbers")
	default:
		return nil, fmt.Errorf("unknown result type %q", resultType)
	}
	var series []promSeries
	if err := json.Unmarshal(raw, &series); err != nil {
		return nil, fmt.Errorf("bad %s result: %w", resultType, err)
	}
	keys := make([]string, len(series))
	for i, s := range series {
		keys[i] = labelKey(s.Metric)
	}
	order := make([]int, len(series))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	values := []float64{}
	for _, i := range order {
		s := series[i]
		if len(s.Histogram) > 0 {
			return nil, fmt.Errorf("series %s is a native histogram; query a number such as histogram_quantile(0.9, …)", keys[i])
		}
		samples := s.Values
		if resultType == "vector" {
			samples = [][]any{s.Value}
		}
		for _, sample := range samples {
			v, err := promSample(sample)
			if err != nil {
				return nil, fmt.Errorf("series %s: %w", keys[i], err)
			}
			values = append(values, v)
		}
	}
	return values, nil
}

// promSample parses a [timestamp, "value"] pair; values may be "NaN",
// "+Inf" and "-Inf".
func promSample(s []any) (float64, error) {
	if len(s) != 2 {
		return 0, fmt.Errorf("bad sample %v: want [time, value]", s)
	}
	str, ok := s[1].(string)
	if !ok {
		return 0, fmt.Errorf("bad sample value %v: want a string", s[1])
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, fmt.Errorf("bad sample value %q", str)
	}
	return v, nil
}

// labelKey renders a label set as Prometheus prints it, labels sorted,
// which orders series stably.
func labelKey(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}
