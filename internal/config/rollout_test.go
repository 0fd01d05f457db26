package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// validRollout has a canary service job, a blue-green one and a plain
// service rolled out all at once.
const validRollout = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  environments:
    - name: production
      approvals: { required: 0 }
  pipeline:
    jobs:
      - name: rollout
        runs_on: { role: web }
        service:
          exec: ["./app", "--listen", "127.0.0.1:${PORT}"]
          env: { LOG_LEVEL: info }
          listen: 127.0.0.1:8080
          health: { path: /healthz, interval: 1s, timeout: 2s }
          stop_grace: 10s
          start_timeout: 60s
        strategy:
          canary:
            steps:
              - set_weight: 10
              - pause: 30s
              - analysis:
                  sequential: { alpha: 0.01, duration: 2m }
              - pause: {}
              - set_weight: 50
              - analysis:
                  metrics:
                    - name: error-rate
                      provider:
                        prometheus: { address: "http://127.0.0.1:9090", query: "sum(rate(x[1m]))", range: 5m, step: 30s, timeout: 5s }
                      interval: 10s
                      count: 5
                      initial_delay: 10s
                      success_condition: "result[0] < 0.01"
                      failure_condition: "result[0] >= 0.05"
                      failure_limit: 1
                      consecutive_error_limit: 2
                      inconclusive_limit: 1
                    - name: p90
                      provider: { builtin: { metric: latency_p90_ms, version: canary, window: 1m } }
                      success_condition: "result < 250"
                    - name: ext
                      provider: { http: { url: "http://127.0.0.1:9000/stats", json_path: "data.error_rate", headers: {X-Key: v}, timeout: 2s } }
                      failure_condition: "result > 0.1"
              - pause: { duration: 1m }
              - set_weight: 100
            background_analysis:
              sequential: {}
              metrics:
                - name: errors
                  provider: { builtin: { metric: error_rate } }
                  interval: 30s
                  failure_condition: "result > 0.05"
      - name: admin
        needs: [rollout]
        service:
          exec: [./admin]
          listen: ":9100"
        strategy:
          blue_green:
            preview: 127.0.0.1:9101
            scale_down_delay: 30s
            analysis:
              sequential: { alpha: 0.05 }
      - name: plain
        service:
          exec: [./worker]
          listen: 127.0.0.1:9200
`

func TestParseRolloutValid(t *testing.T) {
	spec, err := config.ParseService("svc.yaml", []byte(validRollout))
	if err != nil {
		t.Fatal(err)
	}
	d := func(s string) shipgate.Duration {
		v, err := shipgate.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	n := func(i int) *int { return &i }
	wantService := &shipgate.ServiceProcess{
		Exec:         []string{"./app", "--listen", "127.0.0.1:${PORT}"},
		Env:          map[string]string{"LOG_LEVEL": "info"},
		Listen:       "127.0.0.1:8080",
		Health:       &shipgate.ServiceHealth{Path: "/healthz", Interval: d("1s"), Timeout: d("2s")},
		StopGrace:    d("10s"),
		StartTimeout: d("60s"),
	}
	wantStrategy := &shipgate.Strategy{Canary: &shipgate.CanaryStrategy{
		Steps: []shipgate.CanaryStep{
			{SetWeight: n(10)},
			{Pause: &shipgate.Pause{Duration: d("30s")}},
			{Analysis: &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{Alpha: 0.01, Duration: d("2m")}}},
			{Pause: &shipgate.Pause{}},
			{SetWeight: n(50)},
			{Analysis: &shipgate.Analysis{Metrics: []shipgate.AnalysisMetric{
				{
					Name: "error-rate",
					Provider: shipgate.MetricProvider{Prometheus: &shipgate.PrometheusMetric{
						Address: "http://127.0.0.1:9090", Query: "sum(rate(x[1m]))", Range: d("5m"), Step: d("30s"), Timeout: d("5s"),
					}},
					Interval:              d("10s"),
					Count:                 5,
					InitialDelay:          d("10s"),
					SuccessCondition:      "result[0] < 0.01",
					FailureCondition:      "result[0] >= 0.05",
					FailureLimit:          1,
					ConsecutiveErrorLimit: n(2),
					InconclusiveLimit:     1,
				},
				{
					Name:             "p90",
					Provider:         shipgate.MetricProvider{Builtin: &shipgate.BuiltinMetric{Metric: "latency_p90_ms", Version: "canary", Window: d("1m")}},
					SuccessCondition: "result < 250",
				},
				{
					Name: "ext",
					Provider: shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{
						URL: "http://127.0.0.1:9000/stats", JSONPath: "data.error_rate", Headers: map[string]string{"X-Key": "v"}, Timeout: d("2s"),
					}},
					FailureCondition: "result > 0.1",
				},
			}}},
			{Pause: &shipgate.Pause{Duration: d("1m")}},
			{SetWeight: n(100)},
		},
		BackgroundAnalysis: &shipgate.Analysis{
			Sequential: &shipgate.SequentialAnalysis{},
			Metrics: []shipgate.AnalysisMetric{{
				Name:             "errors",
				Provider:         shipgate.MetricProvider{Builtin: &shipgate.BuiltinMetric{Metric: "error_rate"}},
				Interval:         d("30s"),
				FailureCondition: "result > 0.05",
			}},
		},
	}}
	jobs := spec.Pipeline.Jobs
	if len(jobs) != 3 {
		t.Fatalf("%d jobs, want 3", len(jobs))
	}
	if got := jobs[0]; !reflect.DeepEqual(got.Service, wantService) || !reflect.DeepEqual(got.Strategy, wantStrategy) || got.RunsOn["role"] != "web" {
		t.Errorf("canary job parsed wrongly:\n got %s\nwant %s", jsonOf(t, got), jsonOf(t, shipgate.Job{Name: "rollout", RunsOn: map[string]string{"role": "web"}, Service: wantService, Strategy: wantStrategy}))
	}
	if !jobs[0].Strategy.Canary.Steps[3].Pause.Manual() || jobs[0].Strategy.Canary.Steps[1].Pause.Manual() {
		t.Error("pause: {} must be manual and pause: 30s timed")
	}
	wantBlueGreen := &shipgate.Strategy{BlueGreen: &shipgate.BlueGreenStrategy{
		Preview:        "127.0.0.1:9101",
		ScaleDownDelay: d("30s"),
		Analysis:       &shipgate.Analysis{Sequential: &shipgate.SequentialAnalysis{Alpha: 0.05}},
	}}
	if got := jobs[1]; !reflect.DeepEqual(got.Service, &shipgate.ServiceProcess{Exec: []string{"./admin"}, Listen: ":9100"}) || !reflect.DeepEqual(got.Strategy, wantBlueGreen) {
		t.Errorf("blue-green job parsed wrongly: %s", jsonOf(t, got))
	}
	if got := jobs[2]; got.Service == nil || got.Service.Listen != "127.0.0.1:9200" || got.Strategy != nil {
		t.Errorf("plain service job parsed wrongly: %s", jsonOf(t, got))
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The digest is what tells "apply" whether anything changed, so the same
// file, a reformatted one, and the spec read back from its stored JSON
// must all give the same one.
func TestRolloutDigestStable(t *testing.T) {
	parse := func(src string) *shipgate.ServiceSpec {
		t.Helper()
		spec, err := config.ParseService("svc.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	first, second := parse(validRollout), parse(validRollout)
	if first.Digest() != second.Digest() {
		t.Fatal("the same file gave two digests")
	}
	reformatted := strings.NewReplacer(
		"- pause: 30s", "- pause: { duration: 30s }",
		"health: { path: /healthz, interval: 1s, timeout: 2s }", "health:\n            timeout: 2s   # probe\n            path: /healthz\n            interval: 1s",
		"alpha: 0.01,", "alpha: 1e-2,",
	).Replace(validRollout)
	if reformatted == validRollout {
		t.Fatal("replacements not found")
	}
	if parse(reformatted).Digest() != first.Digest() {
		t.Fatal("digest changed with formatting only")
	}
	b, err := json.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	var back shipgate.ServiceSpec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Digest() != first.Digest() {
		t.Fatalf("digest changed through JSON:\n%s", b)
	}

	// And the store agrees: the second apply of the same file is no change.
	db := testutil.NewStore(t, "sqlite")
	ctx := context.Background()
	apply := func(spec *shipgate.ServiceSpec) (rev *shipgate.ServiceRevision, changed bool) {
		t.Helper()
		testutil.Update(t, db, func(tx *sqlstore.Tx) (err error) {
			rev, changed, err = tx.ApplyService(ctx, "alice", spec, "svc.yaml", validRollout)
			return err
		})
		return rev, changed
	}
	rev1, changed1 := apply(first)
	rev2, changed2 := apply(parse(validRollout))
	if !changed1 || changed2 || rev1.Revision != rev2.Revision || rev1.Digest != rev2.Digest {
		t.Fatalf("applying twice: revisions %d/%d, changed %v/%v, digests %s/%s", rev1.Revision, rev2.Revision, changed1, changed2, rev1.Digest, rev2.Digest)
	}
	var stored *shipgate.Service
	err = db.View(ctx, func(tx *sqlstore.Tx) (err error) {
		stored, err = tx.FindService(ctx, "shop")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Spec.Digest() != first.Digest() || !reflect.DeepEqual(stored.Spec.Pipeline, first.Pipeline) {
		t.Fatalf("stored spec differs: %s", jsonOf(t, stored.Spec.Pipeline))
	}
}

// Every malformed rollout gives exactly the file:line problem listed.
func TestParseRolloutErrors(t *testing.T) {
	plainJob := "      - name: plain\n        service:\n          exec: [./worker]\n          listen: 127.0.0.1:9200\n"
	blueGreen := "          blue_green:\n            preview: 127.0.0.1:9101\n            scale_down_delay: 30s\n            analysis:\n              sequential: { alpha: 0.05 }\n"
	tests := []struct {
		name string
		old  string
		new  string
		want string
	}{
		// Shapes, types and keys.
		{"unknown service key", "stop_grace: 10s", "stop_gace: 10s",
			`svc.yaml:18: unknown key "stop_gace" in service; did you mean "stop_grace"?`},
		{"unknown metric key", "initial_delay: 10s", "initial_dely: 10s",
			`svc.yaml:36: unknown key "initial_dely" in metric; did you mean "initial_delay"?`},
		{"unknown step key", "- set_weight: 50", "- set_wieght: 50",
			`svc.yaml:28: unknown key "set_wieght" in canary step; did you mean "set_weight"?`},
		{"unknown strategy", "          blue_green:\n", "          bluegreen:\n",
			`svc.yaml:63: unknown key "bluegreen" in strategy; did you mean "blue_green"?`},
		{"health not a mapping", "health: { path: /healthz, interval: 1s, timeout: 2s }", "health: /healthz",
			`svc.yaml:17: health must be a mapping of keys to values, not "/healthz"`},
		{"weight not a number", "- set_weight: 10", "- set_weight: ten",
			`svc.yaml:23: set_weight must be a whole number, not "ten"`},
		{"bad pause duration", "- pause: 30s", "- pause: 30 seconds",
			`svc.yaml:24: pause: "30 seconds" is not a duration (use a number with a unit: 90s, 10m, 24h, 7d)`},
		{"pause as a list", "- pause: 30s", "- pause: [30s]",
			"svc.yaml:24: pause must be a duration such as 30s, or {} to wait for `shipgate promote`, not a list"},
		{"zero pause", "- pause: 30s", "- pause: 0s",
			`svc.yaml:24: pause: 0s would wait for a person; write pause: {} for that, or leave the step out`},
		{"zero stop_grace", "stop_grace: 10s", "stop_grace: 0s",
			`svc.yaml:18: stop_grace must be more than 0; leave it out for the default`},
		{"negative duration", "initial_delay: 10s", "initial_delay: -10s",
			`svc.yaml:36: initial_delay: duration "-10s" must not be negative`},
		{"alpha not a number", "alpha: 0.05", "alpha: low",
			`svc.yaml:67: alpha must be a number, not "low"`},
		{"alpha zero", "alpha: 0.05", "alpha: 0",
			`svc.yaml:67: alpha must be more than 0 and at most 0.5; leave it out for the default 0.01`},
		{"bad condition", `"result < 250"`, `"result <"`,
			`svc.yaml:44: success_condition: condition "result <", character 9: the condition ends where a number, result, result[N], len(result), isNaN(…) or "(" was expected`},

		// The job.
		{"service and steps", "        runs_on: { role: web }\n", "        runs_on: { role: web }\n        steps: [{run: x}]\n",
			`svc.yaml:13: job "rollout" has a service and steps; a service job runs the release's artifact itself, so it has no steps`},
		{"strategy without service", plainJob, "      - name: plain\n        steps: [{run: x}]\n        strategy: { canary: { steps: [{set_weight: 10}] } }\n",
			`svc.yaml:70: job "plain" has a strategy but no service; a strategy says how a service: job moves traffic`},
		{"empty job", plainJob, "      - name: plain\n",
			`svc.yaml:68: job "plain" has no steps, check or service; give it one of them`},

		// The service.
		{"no exec", "exec: [./worker]", "exec: []",
			`svc.yaml:70: a service needs exec: the program and its arguments, such as ["./app", "--port", "${PORT}"]`},
		{"NUL in exec", `"--listen",`, `"--li\0sten",`,
			`svc.yaml:14: exec argument 2 contains a NUL byte, which no program can receive`},
		{"PORT in env", "env: { LOG_LEVEL: info }", `env: { PORT: "1" }`,
			`svc.yaml:15: PORT is set by shipgate to the instance's own port; a service cannot set it`},
		{"bad listen port", "listen: 127.0.0.1:9200", "listen: 127.0.0.1:70000",
			`svc.yaml:71: listen "127.0.0.1:70000" is not host:port with a port from 1 to 65535, such as 127.0.0.1:8080 or :8080`},
		{"no listen", "          listen: 127.0.0.1:9200\n", "",
			`svc.yaml:69: a service needs listen: the address its router serves, such as 127.0.0.1:8080`},
		{"shared listen", "listen: 127.0.0.1:9200", "listen: 127.0.0.1:8080",
			`svc.yaml:71: listen "127.0.0.1:8080" is also the listen address of job "rollout"; each service needs its own`},
		{"overlapping listen", "listen: 127.0.0.1:9200", "listen: 127.0.0.1:9100",
			`svc.yaml:71: listen "127.0.0.1:9100" overlaps the listen address ":9100" of job "admin"; each service needs its own`},
		{"listen on another's preview", "listen: 127.0.0.1:9200", "listen: 127.0.0.1:9101",
			`svc.yaml:71: listen "127.0.0.1:9101" is also the preview address of job "admin"; each service needs its own`},
		{"health path", "path: /healthz", "path: healthz",
			`svc.yaml:17: health path "healthz" must start with "/", such as /healthz`},

		// The strategy.
		{"canary and blue_green", "        strategy:\n          blue_green:", "        strategy:\n          canary: { steps: [{pause: {}}] }\n          blue_green:",
			`svc.yaml:62: a strategy has exactly one of canary or blue_green`},
		{"step of two kinds", "- set_weight: 10\n", "- set_weight: 10\n                pause: 30s\n",
			`svc.yaml:23: a canary step has exactly one of set_weight, pause or analysis`},
		{"empty step", "- set_weight: 10\n", "- {}\n",
			`svc.yaml:23: a canary step has exactly one of set_weight, pause or analysis`},
		{"weight over 100", "- set_weight: 50", "- set_weight: 120",
			`svc.yaml:28: set_weight is a percentage of traffic from 0 to 100, not 120`},
		{"canary without steps", blueGreen, "          canary: {}\n",
			`svc.yaml:63: a canary needs steps, such as set_weight: 10, pause: 1m, analysis: {...}`},
		{"preview is listen", "preview: 127.0.0.1:9101", "preview: 127.0.0.1:9100",
			`svc.yaml:64: preview "127.0.0.1:9100" is the service's listen address ":9100"; the preview needs an address of its own`},
		{"preview without port", "preview: 127.0.0.1:9101", "preview: localhost",
			`svc.yaml:64: preview "localhost" is not host:port with a port from 1 to 65535, such as 127.0.0.1:8081`},
		{"no preview", "            preview: 127.0.0.1:9101\n", "",
			`svc.yaml:63: blue_green needs preview: the address the new version is tried on before the switch, such as 127.0.0.1:8081`},

		// Analyses.
		{"empty analysis", "            analysis:\n              sequential: { alpha: 0.05 }\n", "            analysis: {}\n",
			`svc.yaml:66: an analysis needs sequential, metrics or both`},
		{"alpha too large", "alpha: 0.05", "alpha: 0.7",
			`svc.yaml:67: alpha must be more than 0 and at most 0.5, not 0.7`},
		{"negative warmup", "alpha: 0.01, duration: 2m", "alpha: 0.01, duration: 2m, warmup: -5s",
			`svc.yaml:26: warmup: duration "-5s" must not be negative`},
		{"warmup not a duration", "alpha: 0.01, duration: 2m", "alpha: 0.01, duration: 2m, warmup: soon",
			`svc.yaml:26: warmup: "soon" is not a duration (use a number with a unit: 90s, 10m, 24h, 7d)`},
		{"warmup too long", "              sequential: {}\n", "              sequential: { warmup: 11m }\n",
			`svc.yaml:51: warmup 11m0s is longer than the most allowed, 10m0s: a judge blind that long after every weight change hardly watches the canary`},
		{"warmup as long as the step", "alpha: 0.01, duration: 2m", "alpha: 0.01, duration: 2m, warmup: 2m",
			`svc.yaml:26: warmup 2m0s is not shorter than the analysis's duration 2m0s: an analysis step would pass without judging a second; shorten warmup or lengthen duration`},
		{"warmup rounded up to the duration", "alpha: 0.01, duration: 2m", "alpha: 0.01, duration: 2m, warmup: 119500ms",
			`svc.yaml:26: warmup 1m59.5s is not shorter than the analysis's duration 2m0s: an analysis step would pass without judging a second; shorten warmup or lengthen duration`},
		{"warmup beyond the default duration", "sequential: { alpha: 0.05 }", "sequential: { alpha: 0.05, warmup: 90s }",
			`svc.yaml:67: warmup 1m30s is not shorter than the analysis's duration 1m0s: the blue_green analysis would pass without judging a second; shorten warmup or lengthen duration`},
		{"background duration", "              sequential: {}\n", "              sequential: { duration: 1m }\n",
			`svc.yaml:51: duration is not used in background_analysis, which watches until the rollout ends`},
		{"duplicate metric", "- name: ext", "- name: p90",
			`svc.yaml:45: metric "p90" is defined twice in this analysis`},
		{"bad metric name", "- name: ext", `- name: "Ext!"`,
			`svc.yaml:45: metric name "Ext!" is not valid: use 1-63 lowercase letters, digits, '-', '_' or '.'`},
		{"two providers", "provider: { builtin: { metric: error_rate } }", `provider: { builtin: { metric: error_rate }, http: { url: "http://x", json_path: a } }`,
			`svc.yaml:54: a metric's provider has exactly one of builtin, prometheus or http`},
		{"no provider", "provider: { builtin: { metric: error_rate } }", "provider: {}",
			`svc.yaml:54: a metric's provider has exactly one of builtin, prometheus or http`},
		{"builtin typo", "metric: latency_p90_ms", "metric: latency_p90",
			`svc.yaml:43: builtin metric "latency_p90" is not known; did you mean "latency_p90_ms"?`},
		{"builtin unknown", "metric: latency_p90_ms", "metric: cpu",
			`svc.yaml:43: builtin metric "cpu" is not known (use one of "error_rate", "requests", "requests_per_second", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms")`},
		{"builtin version", "version: canary", "version: new",
			`svc.yaml:43: version "new" is not known; use "canary" or "stable"`},
		{"prometheus address", `address: "http://127.0.0.1:9090"`, `address: "127.0.0.1:9090"`,
			`svc.yaml:33: prometheus address "127.0.0.1:9090" is not an http:// or https:// URL with a host`},
		{"prometheus query", `query: "sum(rate(x[1m]))"`, `query: " "`,
			`svc.yaml:33: a prometheus metric needs a query`},
		{"step without range", "range: 5m, ", "",
			`svc.yaml:33: step is only used with range (a range query)`},
		{"too many points", "range: 5m, step: 30s", "range: 720h, step: 1s",
			`svc.yaml:33: range 720h0m0s at step 1s is more than the 11,000 points Prometheus returns per series; give a larger step`},
		{"http url", `url: "http://127.0.0.1:9000/stats"`, `url: "ftp://127.0.0.1/stats"`,
			`svc.yaml:46: url "ftp://127.0.0.1/stats" is not an http:// or https:// URL with a host`},
		{"http json_path", `json_path: "data.error_rate", `, "",
			`svc.yaml:46: an http metric needs json_path: where its number is in the document, such as data.error_rate`},
		{"http bad json_path", `json_path: "data.error_rate"`, `json_path: "data[x"`,
			`svc.yaml:46: json_path "data[x" has a bad index [x`},
		{"http header name", "headers: {X-Key: v}", `headers: {"X Key": v}`,
			`svc.yaml:46: header name "X Key" is not valid`},
		{"no condition", "                      failure_condition: \"result > 0.1\"\n", "",
			`svc.yaml:45: metric "ext" needs success_condition, failure_condition or both`},
		{"negative count", "count: 5", "count: -1",
			`svc.yaml:35: count must be 0 or more, not -1`},
		{"negative error limit", "consecutive_error_limit: 2", "consecutive_error_limit: -2",
			`svc.yaml:40: consecutive_error_limit must be 0 or more, not -2`},
		{"count without interval", "                      interval: 10s\n", "",
			`svc.yaml:34: a metric measured 5 times needs an interval between the measurements`},
		{"unending step analysis", "                      count: 5\n", "",
			`svc.yaml:34: an analysis step must end: give count (with an interval and no count, a metric runs until the rollout ends; that belongs in background_analysis)`},
		{"unending blue_green analysis", "sequential: { alpha: 0.05 }", `metrics: [{name: m, provider: {builtin: {metric: error_rate}}, interval: 10s, failure_condition: "result > 0.1"}]`,
			`svc.yaml:67: the blue_green analysis must end: give count (with an interval and no count, a metric runs until the rollout ends)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(validRollout, tt.old, tt.new, 1)
			if src == validRollout {
				t.Fatalf("replacement %q not found", tt.old)
			}
			spec, err := config.ParseService("svc.yaml", []byte(src))
			if err == nil {
				t.Fatalf("no error; spec %s", jsonOf(t, spec))
			}
			var cerr *config.Error
			if spec != nil || !errors.As(err, &cerr) || shipgate.ErrorCode(err) != shipgate.EINVALID {
				t.Fatalf("want only an invalid *config.Error, got %T %v and spec %v", err, err, spec)
			}
			if err.Error() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

// "$" is the whole document for an http metric: a JSON number (or array
// of numbers) answered as such.
func TestParseRolloutWholeDocumentJSONPath(t *testing.T) {
	src := strings.Replace(validRollout, `json_path: "data.error_rate"`, `json_path: "$"`, 1)
	spec, err := config.ParseService("svc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, j := range spec.Pipeline.Jobs {
		if j.Strategy == nil || j.Strategy.Canary == nil {
			continue
		}
		for _, st := range j.Strategy.Canary.Steps {
			if st.Analysis == nil {
				continue
			}
			for _, m := range st.Analysis.Metrics {
				found = found || m.Provider.HTTP != nil && m.Provider.HTTP.JSONPath == "$"
			}
		}
	}
	if !found {
		t.Fatal(`the http metric's json_path "$" did not survive parsing`)
	}
}

// warmup is read on every sequential analysis: a blocking one, a background
// one (any length up to the bound, since it watches until the rollout
// ends), and 0 written out, which judges from the first second.
func TestParseRolloutWarmup(t *testing.T) {
	src := strings.Replace(validRollout, "alpha: 0.01, duration: 2m", "alpha: 0.01, duration: 2m, warmup: 1.5s", 1)
	src = strings.Replace(src, "              sequential: {}\n", "              sequential: { warmup: 50s }\n", 1)
	src = strings.Replace(src, "sequential: { alpha: 0.05 }", "sequential: { alpha: 0.05, warmup: 0s }", 1)
	spec, err := config.ParseService("svc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := spec.Pipeline.Jobs[0].Strategy.Canary
	step, bg := c.Steps[2].Analysis.Sequential, c.BackgroundAnalysis.Sequential
	if step.Warmup.Std() != 1500*time.Millisecond || step.WarmupSeconds() != 2 {
		t.Errorf("step warmup %v (%d s), want 1.5s rounded up to 2 s", step.Warmup.Std(), step.WarmupSeconds())
	}
	if bg.Warmup.Std() != 50*time.Second || bg.WarmupSeconds() != 50 {
		t.Errorf("background warmup %v (%d s), want 50s", bg.Warmup.Std(), bg.WarmupSeconds())
	}
	if bgw := spec.Pipeline.Jobs[1].Strategy.BlueGreen.Analysis.Sequential; bgw.Warmup != 0 || bgw.WarmupSeconds() != 0 {
		t.Errorf("blue-green warmup %v, want 0", bgw.Warmup)
	}
}

// A background judge's warm-up starts again at every weight change: one at
// least as long as the canary holds a weight between timed steps leaves it
// blind for the whole rollout, and is refused (hostile review of issue 12).
func TestParseRolloutBackgroundWarmupBlind(t *testing.T) {
	src := strings.Replace(validRollout, "              - pause: {}\n", "              - pause: 20s\n", 1)
	src = strings.Replace(src, "              sequential: {}\n", "              sequential: { warmup: 5m }\n", 1)
	_, err := config.ParseService("svc.yaml", []byte(src))
	want := "svc.yaml:51: warmup 5m0s leaves the background judge blind: it starts again at every weight change, and this canary holds a weight for only 2m50s; shorten warmup"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	// No warm-up is never too long, however short the analysis (a CI
	// run refused `duration: 1s` without a warm-up).
	if _, err := config.ParseService("svc.yaml", []byte(strings.Replace(validRollout, "alpha: 0.01, duration: 2m", "alpha: 0.01, duration: 1s", 1))); err != nil {
		t.Fatal(err)
	}
	// Shorter than every timed stretch between weights: accepted.
	if _, err := config.ParseService("svc.yaml", []byte(strings.Replace(src, "warmup: 5m", "warmup: 2m", 1))); err != nil {
		t.Fatal(err)
	}
}
