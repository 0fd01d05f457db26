package shipgate

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serviceJobs checks the jobs that run a supervised service: the process,
// the strategy and its analyses, and that no two services of the pipeline
// claim the same front address (listen or preview), since a router could
// not bind the second.
func (v *validator) serviceJobs(pl *Pipeline) {
	type front struct{ what, addr, job, path string }
	var fronts []front
	for i := range pl.Jobs {
		j := &pl.Jobs[i]
		p := fmt.Sprintf("spec.pipeline.jobs[%d]", i)
		if j.Service == nil {
			if j.Strategy != nil {
				v.add(p+".strategy", "job %q has a strategy but no service; a strategy says how a service: job moves traffic", j.Name)
			}
			continue
		}
		if len(j.Steps) > 0 {
			v.add(p+".steps", "job %q has a service and steps; a service job runs the release's artifact itself, so it has no steps", j.Name)
		}
		if j.Check != nil {
			v.add(p+".check", "job %q has a service and a check; a service is probed by its service.health, so the job has no check", j.Name)
		}
		v.serviceProcess(p+".service", j.Service)
		if validHostPort(j.Service.Listen) {
			fronts = append(fronts, front{"listen", j.Service.Listen, j.Name, p + ".service.listen"})
		}
		if j.Strategy != nil {
			v.strategy(p+".strategy", j.Strategy, j.Service.Listen)
			if bg := j.Strategy.BlueGreen; bg != nil && validHostPort(bg.Preview) && !sameAddress(bg.Preview, j.Service.Listen) {
				fronts = append(fronts, front{"preview", bg.Preview, j.Name, p + ".strategy.blue_green.preview"})
			}
		}
	}
	for b := range fronts {
		for a := range b {
			fa, fb := fronts[a], fronts[b]
			if fa.job == fb.job || !sameAddress(fa.addr, fb.addr) {
				continue
			}
			if fa.addr == fb.addr {
				v.add(fb.path, "%s %q is also the %s address of job %q; each service needs its own", fb.what, fb.addr, fa.what, fa.job)
			} else {
				v.add(fb.path, "%s %q overlaps the %s address %q of job %q; each service needs its own", fb.what, fb.addr, fa.what, fa.addr, fa.job)
			}
			break
		}
	}
}

func (v *validator) serviceProcess(p string, s *ServiceProcess) {
	switch {
	case len(s.Exec) == 0:
		v.add(p+".exec", `a service needs exec: the program and its arguments, such as ["./app", "--port", "${PORT}"]`)
	case s.Exec[0] == "":
		v.add(p+".exec[0]", "exec needs a program as its first element")
	}
	for k, arg := range s.Exec {
		if strings.IndexByte(arg, 0) >= 0 {
			v.add(fmt.Sprintf("%s.exec[%d]", p, k), "exec argument %d contains a NUL byte, which no program can receive", k+1)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		switch {
		case k == "PORT":
			v.add(p+".env."+k, "PORT is set by shipgate to the instance's own port; a service cannot set it")
		case !validEnvName(k):
			v.add(p+".env."+k, "environment variable name %q is not valid", k)
		}
	}
	switch {
	case s.Listen == "":
		v.add(p+".listen", "a service needs listen: the address its router serves, such as 127.0.0.1:8080")
	case !validHostPort(s.Listen):
		v.add(p+".listen", "listen %q is not host:port with a port from 1 to 65535, such as 127.0.0.1:8080 or :8080", s.Listen)
	}
	if h := s.Health; h != nil {
		switch {
		case h.Path == "":
			v.add(p+".health", "health needs a path to GET, such as /healthz")
		case !strings.HasPrefix(h.Path, "/"):
			v.add(p+".health.path", "health path %q must start with \"/\", such as /healthz", h.Path)
		}
	}
}

func (v *validator) strategy(p string, s *Strategy, listen string) {
	if (s.Canary != nil) == (s.BlueGreen != nil) {
		v.add(p, "a strategy has exactly one of canary or blue_green")
	}
	if c := s.Canary; c != nil {
		cp := p + ".canary"
		if len(c.Steps) == 0 {
			v.add(cp+".steps", "a canary needs steps, such as set_weight: 10, pause: 1m, analysis: {...}")
		}
		for k, st := range c.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", cp, k)
			kinds := 0
			if st.SetWeight != nil {
				kinds++
				if w := *st.SetWeight; w < 0 || w > 100 {
					v.add(sp+".set_weight", "set_weight is a percentage of traffic from 0 to 100, not %d", w)
				}
			}
			if st.Pause != nil {
				kinds++
			}
			if st.Analysis != nil {
				kinds++
				v.analysis(sp+".analysis", st.Analysis, "an analysis step", "; that belongs in background_analysis")
			}
			if kinds != 1 {
				v.add(sp, "a canary step has exactly one of set_weight, pause or analysis")
			}
		}
		if c.BackgroundAnalysis != nil {
			v.analysis(cp+".background_analysis", c.BackgroundAnalysis, "", "")
			if s := c.BackgroundAnalysis.Sequential; s != nil && s.Warmup > 0 && s.Warmup <= MaxSequentialWarmup {
				// Its warm-up starts again at every weight change: one as
				// long as the shortest timed stretch between two weights
				// would leave the background judge blind for the whole
				// rollout.
				if gap, ok := c.shortestWeightGap(); ok && Duration(time.Duration(s.WarmupSeconds()+1)*time.Second) >= gap {
					v.add(cp+".background_analysis.sequential.warmup", "warmup %s leaves the background judge blind: it starts again at every weight change, and this canary holds a weight for only %s; shorten warmup", s.Warmup.Std(), gap.Std())
				}
			}
		}
	}
	if b := s.BlueGreen; b != nil {
		bp := p + ".blue_green"
		switch {
		case b.Preview == "":
			v.add(bp+".preview", "blue_green needs preview: the address the new version is tried on before the switch, such as 127.0.0.1:8081")
		case !validHostPort(b.Preview):
			v.add(bp+".preview", "preview %q is not host:port with a port from 1 to 65535, such as 127.0.0.1:8081", b.Preview)
		case validHostPort(listen) && sameAddress(b.Preview, listen):
			v.add(bp+".preview", "preview %q is the service's listen address %q; the preview needs an address of its own", b.Preview, listen)
		}
		if b.Analysis != nil {
			v.analysis(bp+".analysis", b.Analysis, "the blue_green analysis", "")
		}
	}
}

// analysis checks one analysis. blocking names an analysis the rollout
// waits for ("" for a background one), which must therefore end; hint
// says where an unending metric belongs instead.
func (v *validator) analysis(p string, a *Analysis, blocking, hint string) {
	if a.Sequential == nil && len(a.Metrics) == 0 {
		v.add(p, "an analysis needs sequential, metrics or both")
	}
	if s := a.Sequential; s != nil {
		if !(s.Alpha >= 0 && s.Alpha <= 0.5) { // also refuses NaN
			v.add(p+".sequential.alpha", "alpha must be more than 0 and at most 0.5, not %g", s.Alpha)
		}
		if blocking == "" && s.Duration != 0 {
			v.add(p+".sequential.duration", "duration is not used in background_analysis, which watches until the rollout ends")
		}
		d := s.Duration
		if d == 0 {
			d = DefaultSequentialDuration
		}
		switch w := s.Warmup; {
		case w < 0:
			v.add(p+".sequential.warmup", "warmup must be 0 or more, not %s", w.Std())
		case w > MaxSequentialWarmup:
			v.add(p+".sequential.warmup", "warmup %s is longer than the most allowed, %s: a judge blind that long after every weight change hardly watches the canary", w.Std(), MaxSequentialWarmup.Std())
		case blocking != "" && w > 0 && Duration(time.Duration(s.WarmupSeconds()+1)*time.Second) >= d:
			// Compared as the judges count it, in whole seconds rounded up,
			// and with the first second, which only starts the count.
			v.add(p+".sequential.warmup", "warmup %s is not shorter than the analysis's duration %s: %s would pass without judging a second; shorten warmup or lengthen duration", w.Std(), d.Std(), blocking)
		}
	}
	names := map[string]bool{}
	for k := range a.Metrics {
		m := &a.Metrics[k]
		mp := fmt.Sprintf("%s.metrics[%d]", p, k)
		switch {
		case !validName(m.Name):
			v.add(mp+".name", "metric name %q is not valid: use 1-63 lowercase letters, digits, '-', '_' or '.'", m.Name)
		case names[m.Name]:
			v.add(mp+".name", "metric %q is defined twice in this analysis", m.Name)
		}
		names[m.Name] = true
		v.provider(mp+".provider", &m.Provider)
		if m.SuccessCondition == "" && m.FailureCondition == "" {
			v.add(mp, "metric %q needs success_condition, failure_condition or both", m.Name)
		}
		for _, c := range []struct {
			key string
			n   int
		}{{"count", m.Count}, {"failure_limit", m.FailureLimit}, {"inconclusive_limit", m.InconclusiveLimit}} {
			if c.n < 0 {
				v.add(mp+"."+c.key, "%s must be 0 or more, not %d", c.key, c.n)
			}
		}
		if l := m.ConsecutiveErrorLimit; l != nil && *l < 0 {
			v.add(mp+".consecutive_error_limit", "consecutive_error_limit must be 0 or more, not %d", *l)
		}
		switch {
		case m.Count > 1 && m.Interval == 0:
			v.add(mp+".count", "a metric measured %d times needs an interval between the measurements", m.Count)
		case blocking != "" && m.Count == 0 && m.Interval > 0:
			v.add(mp+".interval", "%s must end: give count (with an interval and no count, a metric runs until the rollout ends%s)", blocking, hint)
		}
	}
}

func (v *validator) provider(p string, mp *MetricProvider) {
	n := 0
	if b := mp.Builtin; b != nil {
		n++
		switch {
		case b.Metric == "":
			v.add(p+".builtin", "a builtin metric needs metric: one of %s", quoteList(BuiltinMetrics))
		case !slices.Contains(BuiltinMetrics, b.Metric):
			if c := Closest(b.Metric, BuiltinMetrics); c != "" {
				v.add(p+".builtin.metric", "builtin metric %q is not known; did you mean %q?", b.Metric, c)
			} else {
				v.add(p+".builtin.metric", "builtin metric %q is not known (use one of %s)", b.Metric, quoteList(BuiltinMetrics))
			}
		}
		if b.Version != "" && b.Version != "canary" && b.Version != "stable" {
			v.add(p+".builtin.version", "version %q is not known; use \"canary\" or \"stable\"", b.Version)
		}
	}
	if q := mp.Prometheus; q != nil {
		n++
		switch {
		case q.Address == "":
			v.add(p+".prometheus", "a prometheus metric needs address: the Prometheus server's URL, such as http://127.0.0.1:9090")
		case !httpURL(q.Address):
			v.add(p+".prometheus.address", "prometheus address %q is not an http:// or https:// URL with a host", q.Address)
		}
		if strings.TrimSpace(q.Query) == "" {
			v.add(p+".prometheus.query", "a prometheus metric needs a query")
		}
		if q.Step != 0 && q.Range == 0 {
			v.add(p+".prometheus.step", "step is only used with range (a range query)")
		} else if s := q.EffectiveStep(); s > 0 && q.Range.Std()/s > MaxPrometheusPoints {
			v.add(p+".prometheus.range", "range %s at step %s is more than the 11,000 points Prometheus returns per series; give a larger step", q.Range.Std(), s)
		}
	}
	if h := mp.HTTP; h != nil {
		n++
		switch {
		case h.URL == "":
			v.add(p+".http", "an http metric needs url: the JSON document to read")
		case !httpURL(h.URL):
			v.add(p+".http.url", "url %q is not an http:// or https:// URL with a host", h.URL)
		}
		if h.JSONPath == "" {
			v.add(p+".http.json_path", "an http metric needs json_path: where its number is in the document, such as data.error_rate")
		} else if _, err := ParseJSONPath(h.JSONPath); err != nil {
			v.add(p+".http.json_path", "%v", err)
		}
		for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
			if !validHeaderName(k) {
				v.add(p+".http.headers."+k, "header name %q is not valid", k)
			}
		}
	}
	if n != 1 {
		v.add(p, "a metric's provider has exactly one of builtin, prometheus or http")
	}
}

// validHostPort reports whether s is host:port with a port from 1 to
// 65535; the host may be empty (all interfaces), an IP or a host name.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return false
	}
	if host == "" || net.ParseIP(host) != nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// sameAddress reports whether two valid host:port addresses would bind
// the same port: the same host, or a wildcard host on either side.
func sameAddress(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	na, _ := strconv.Atoi(pa)
	nb, _ := strconv.Atoi(pb)
	if na != nb {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return strings.EqualFold(ha, hb) || wild(ha) || wild(hb)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// Closest is the known word a likely typo of s stands for: within three
// edits, or else the only one containing s; "" when there is none.
func Closest(s string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := EditDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	var holding []string
	for _, k := range known {
		if s != "" && strings.Contains(k, s) {
			holding = append(holding, k)
		}
	}
	if len(holding) == 1 {
		return holding[0]
	}
	return ""
}

// EditDistance is the Levenshtein distance between a and b: how the
// parsers tell a typo ("timout") from a word they do not know.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// shortestWeightGap is the shortest time the canary holds a weight between
// two weight changes, counting timed pauses and the durations of blocking
// analyses between them; ok is false when no two weights are separated
// only by timed steps (a manual pause waits for a person).
func (c *CanaryStrategy) shortestWeightGap() (gap Duration, ok bool) {
	var run Duration
	open, timed := false, true
	for _, st := range c.Steps {
		switch {
		case st.SetWeight != nil:
			if open && timed && (!ok || run < gap) {
				gap, ok = run, true
			}
			open, timed, run = true, true, 0
		case st.Pause != nil:
			if st.Pause.Duration <= 0 {
				timed = false
			}
			run += st.Pause.Duration
		case st.Analysis != nil:
			// Only a sequential analysis's length is known beforehand.
			if s := st.Analysis.Sequential; s == nil {
				timed = false
			} else if s.Duration > 0 {
				run += s.Duration
			} else {
				run += DefaultSequentialDuration
			}
		}
	}
	return gap, ok
}
