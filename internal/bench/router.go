package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate/internal/judgesim"
)

// RouterConfig is what `bench router` measures and how long.
type RouterConfig struct {
	Rounds               int
	Rate, Conns          int
	Warmup, Duration     time.Duration
	WrkThreads, WrkConns int
	WrkDuration          time.Duration
	Targets              []string
	WrkPath, NginxPath   string
	CPUProfileDir        string
}

// routerTargets are all targets in their default order; "direct" must
// come first in every round, since the others are compared against it.
var routerTargets = []string{"direct", "shipgate", "shipgate-w50", "reverseproxy", "reverseproxy-tuned", "reverseproxy-pool", "nginx"}

// RouterTargets are all targets in their default order, "direct" first.
func RouterTargets() []string { return slices.Clone(routerTargets) }

// PickRouterTargets turns --targets into the targets to run, in their
// default order and always with "direct"; empty means all.
func PickRouterTargets(list string) ([]string, error) {
	if list == "" {
		return slices.Clone(routerTargets), nil
	}
	want := map[string]bool{"direct": true}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(routerTargets, t) {
			return nil, fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(routerTargets, ", "))
		}
		want[t] = true
	}
	var out []string
	for _, t := range routerTargets {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// RouterReport is the output of `bench router`.
type RouterReport struct {
	Machine  map[string]string `json:"machine"`
	Settings map[string]any    `json:"settings"`
	Targets  []RouterResult    `json:"targets"` // medians over rounds
	Rounds   []RouterResult    `json:"rounds"`
	Checks   []RouterCheck     `json:"checks"`
	Notes    []string          `json:"notes,omitempty"`
}

// RouterResult is one target's figures in one round, or their median.
// Proxy fields are nil for the direct target.
type RouterResult struct {
	Target string `json:"target"`
	Round  int    `json:"round,omitempty"`
	// Fixed-rate latency, from the scheduled send time.
	P50Ms      float64  `json:"p50_ms"`
	P90Ms      float64  `json:"p90_ms"`
	P99Ms      float64  `json:"p99_ms"`
	AddedP50Ms *float64 `json:"added_p50_ms,omitempty"`
	// SendLagP50Ms is how late the generator itself sent (actual − scheduled).
	SendLagP50Ms  float64  `json:"send_lag_p50_ms"`
	SendLagP90Ms  float64  `json:"send_lag_p90_ms"`
	Retries       int      `json:"latency_retries,omitempty"` // runs redone for a late generator
	LatencyErrors float64  `json:"latency_errors"`
	CPUPerReqUs   *float64 `json:"proxy_cpu_us_per_req_at_rate,omitempty"`
	// wrk.
	WrkRPS      float64  `json:"wrk_rps"`
	WrkP50Ms    float64  `json:"wrk_p50_ms"`
	WrkErrors   float64  `json:"wrk_errors"`
	ProxyCPUS   *float64 `json:"proxy_cpu_s,omitempty"`
	RPSPerCore  *float64 `json:"rps_per_core,omitempty"`
	BackendCPUS float64  `json:"backend_cpu_s"`
}

// RouterCheck is one of the project's targets for the router.
type RouterCheck struct {
	What string `json:"what"`
	Met  bool   `json:"met"`
}

// benchTarget is a running target: where to send, whose CPU to count.
type benchTarget struct {
	name     string
	addr     string
	proxy    *benchChild // nil for direct
	backends []*benchChild
}

// RunRouter starts the backends and proxies cfg asks for, measures them
// round after round, and reports; progress and notes go to stderr.
func RunRouter(ctx context.Context, stderr io.Writer, cfg RouterConfig) (*RouterReport, error) {
	wrk, err := exec.LookPath(cfg.WrkPath)
	if err != nil {
		return nil, fmt.Errorf("wrk not found (%s): apt-get install wrk", cfg.WrkPath)
	}
	rep := &RouterReport{Machine: benchMachine(wrk), Settings: map[string]any{
		"rounds": cfg.Rounds, "rate": cfg.Rate, "conns": cfg.Conns,
		"warmup": cfg.Warmup.String(), "duration": cfg.Duration.String(),
		"wrk": fmt.Sprintf("wrk -t%d -c%d -d%s --latency", cfg.WrkThreads, cfg.WrkConns, cfg.WrkDuration),
	}}
	nginx := ""
	if slices.Contains(cfg.Targets, "nginx") {
		if nginx, err = exec.LookPath(cfg.NginxPath); err != nil {
			note := fmt.Sprintf("nginx not found (%s): skipping the nginx target (apt-get install nginx)", cfg.NginxPath)
			fmt.Fprintln(stderr, note)
			rep.Notes = append(rep.Notes, note)
			cfg.Targets = slices.DeleteFunc(slices.Clone(cfg.Targets), func(t string) bool { return t == "nginx" })
		} else {
			rep.Machine["nginx"] = commandVersion(nginx, "-v")
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "shipgate-bench-router-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if cfg.CPUProfileDir != "" {
		if err := os.MkdirAll(cfg.CPUProfileDir, 0o755); err != nil {
			return nil, err
		}
	}

	var children []*benchChild
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	goChild := func(name string, args ...string) (*benchChild, error) {
		if cfg.CPUProfileDir != "" && name != "backend" && name != "backend-canary" {
			args = append(args, "--cpuprofile", filepath.Join(cfg.CPUProfileDir, name+".pprof"))
		}
		c, err := startGoChild(ctx, dir, name, self, args...)
		if c != nil {
			children = append(children, c)
		}
		return c, err
	}
	stable, err := goChild("backend", "bench", "router", "backend", "--listen", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var canary *benchChild
	if slices.Contains(cfg.Targets, "shipgate-w50") {
		if canary, err = goChild("backend-canary", "bench", "router", "backend", "--listen", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	var targets []*benchTarget
	for _, name := range cfg.Targets {
		t := &benchTarget{name: name, backends: []*benchChild{stable}}
		switch name {
		case "direct":
			t.addr = stable.addr
		case "shipgate", "reverseproxy", "reverseproxy-tuned", "reverseproxy-pool":
			t.proxy, err = goChild(name, "bench", "router", "proxy", "--kind", name, "--listen", "127.0.0.1:0", "--backend", stable.addr)
		case "shipgate-w50":
			t.backends = append(t.backends, canary)
			t.proxy, err = goChild(name, "bench", "router", "proxy", "--kind", "shipgate", "--listen", "127.0.0.1:0",
				"--backend", stable.addr, "--canary", canary.addr, "--weight", "50")
		case "nginx":
			t.proxy, err = startNginx(ctx, dir, nginx, stable.addr)
			if t.proxy != nil {
				children = append(children, t.proxy)
			}
		}
		if err != nil {
			return nil, err
		}
		if t.proxy != nil {
			t.addr = t.proxy.addr
		}
		targets = append(targets, t)
	}

	for round := 1; round <= cfg.Rounds; round++ {
		order := slices.Clone(targets[1:])
		if round%2 == 0 {
			slices.Reverse(order)
		}
		order = append([]*benchTarget{targets[0]}, order...)
		var direct float64
		for _, t := range order {
			r, err := measureTarget(ctx, stderr, cfg, wrk, t)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, t.name, err)
			}
			r.Round = round
			if t.name == "direct" {
				direct = r.P50Ms
			} else {
				added := r.P50Ms - direct
				r.AddedP50Ms = &added
			}
			fmt.Fprintf(stderr, "[round %d/%d] %-18s p50 %.3f ms  p99 %.3f ms  wrk %.0f req/s%s\n", round, cfg.Rounds, t.name,
				r.P50Ms, r.P99Ms, r.WrkRPS, perCoreSuffix(r.RPSPerCore))
			rep.Rounds = append(rep.Rounds, r)
		}
	}
	for _, t := range targets {
		var rs []RouterResult
		for _, r := range rep.Rounds {
			if r.Target == t.name {
				rs = append(rs, r)
			}
		}
		rep.Targets = append(rep.Targets, medianResult(rs))
	}
	for _, c := range children {
		if sum := c.logSummary(); sum != "" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s logged %s", c.name, sum))
		}
	}
	rep.Checks = routerChecks(rep.Targets, cfg.Rate)
	rep.Machine["loadavg_end"] = loadAvg()
	if cfg.CPUProfileDir != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("CPU profiles of the Go proxies (whole run) in %s: go tool pprof -top %s %s", cfg.CPUProfileDir, self, filepath.Join(cfg.CPUProfileDir, "shipgate.pprof")))
	}
	return rep, nil
}

func perCoreSuffix(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("  %.0f req/s per core", *v)
}

// measureTarget runs the fixed-rate latency run, then wrk, against one
// target, reading the CPU time of its proxy and backends around each.
func measureTarget(ctx context.Context, stderr io.Writer, cfg RouterConfig, wrk string, t *benchTarget) (RouterResult, error) {
	r := RouterResult{Target: t.name}
	cpu := func(cs []*benchChild) (time.Duration, error) {
		var sum time.Duration
		for _, c := range cs {
			d, err := treeCPU(c.pid())
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
	proxies := []*benchChild{}
	if t.proxy != nil {
		proxies = append(proxies, t.proxy)
	}

	p0, err := cpu(proxies)
	if err != nil {
		return r, err
	}
	// A generator that could not send on time (the machine was busy with
	// something else) measured the machine, not the target: run again.
	var lat *latencyRun
	var p1 time.Duration
	for try := 1; ; try++ {
		if lat, err = openLoop(ctx, t.addr, cfg.Rate, cfg.Conns, cfg.Warmup, cfg.Duration); err != nil {
			return r, err
		}
		if p1, err = cpu(proxies); err != nil {
			return r, err
		}
		lag := quantile(lat.lag, 0.90)
		if lag <= maxSendLag || try == 3 {
			break
		}
		fmt.Fprintf(stderr, "%s: the generator sent late (p90 %.3f ms > %.3f ms), the machine is busy: measuring again\n", t.name, ms(lag), ms(maxSendLag))
		r.Retries++
		if p0, err = cpu(proxies); err != nil {
			return r, err
		}
	}
	r.P50Ms, r.P90Ms, r.P99Ms = ms(quantile(lat.lat, 0.50)), ms(quantile(lat.lat, 0.90)), ms(quantile(lat.lat, 0.99))
	r.SendLagP50Ms, r.SendLagP90Ms = ms(quantile(lat.lag, 0.50)), ms(quantile(lat.lag, 0.90))
	r.LatencyErrors = float64(lat.errors)
	if t.proxy != nil && lat.sent > 0 {
		us := float64(p1-p0) / float64(time.Microsecond) / float64(lat.sent)
		r.CPUPerReqUs = &us
	}

	b0, err := cpu(t.backends)
	if err != nil {
		return r, err
	}
	p0, err = cpu(proxies)
	if err != nil {
		return r, err
	}
	w, err := runWrk(ctx, wrk, t.addr, cfg.WrkThreads, cfg.WrkConns, cfg.WrkDuration)
	if err != nil {
		return r, err
	}
	p1, err = cpu(proxies)
	if err != nil {
		return r, err
	}
	b1, err := cpu(t.backends)
	if err != nil {
		return r, err
	}
	r.WrkRPS, r.WrkP50Ms, r.WrkErrors = w.rps, w.p50Ms, float64(w.errors)
	r.BackendCPUS = (b1 - b0).Seconds()
	if t.proxy != nil {
		s := (p1 - p0).Seconds()
		r.ProxyCPUS = &s
		if s > 0 {
			perCore := float64(w.requests) / s
			r.RPSPerCore = &perCore
		}
	}
	return r, nil
}

// maxSendLag is how late the generator may send at p90 for a latency run
// to count; on an idle machine it is about 0.05 ms.
const maxSendLag = 500 * time.Microsecond

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// medianResult takes the median of every figure over the rounds separately.
func medianResult(rs []RouterResult) RouterResult {
	med := func(get func(RouterResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		return judgesim.Quantile(v, 0.5)
	}
	medp := func(get func(RouterResult) *float64) *float64 {
		if get(rs[0]) == nil {
			return nil
		}
		x := med(func(r RouterResult) float64 { return *get(r) })
		return &x
	}
	return RouterResult{
		Target:        rs[0].Target,
		P50Ms:         med(func(r RouterResult) float64 { return r.P50Ms }),
		P90Ms:         med(func(r RouterResult) float64 { return r.P90Ms }),
		P99Ms:         med(func(r RouterResult) float64 { return r.P99Ms }),
		AddedP50Ms:    medp(func(r RouterResult) *float64 { return r.AddedP50Ms }),
		SendLagP50Ms:  med(func(r RouterResult) float64 { return r.SendLagP50Ms }),
		SendLagP90Ms:  med(func(r RouterResult) float64 { return r.SendLagP90Ms }),
		LatencyErrors: med(func(r RouterResult) float64 { return r.LatencyErrors }),
		CPUPerReqUs:   medp(func(r RouterResult) *float64 { return r.CPUPerReqUs }),
		WrkRPS:        med(func(r RouterResult) float64 { return r.WrkRPS }),
		WrkP50Ms:      med(func(r RouterResult) float64 { return r.WrkP50Ms }),
		WrkErrors:     med(func(r RouterResult) float64 { return r.WrkErrors }),
		ProxyCPUS:     medp(func(r RouterResult) *float64 { return r.ProxyCPUS }),
		RPSPerCore:    medp(func(r RouterResult) *float64 { return r.RPSPerCore }),
		BackendCPUS:   med(func(r RouterResult) float64 { return r.BackendCPUS }),
	}
}

func routerChecks(ts []RouterResult, rate int) []RouterCheck {
	by := map[string]RouterResult{}
	for _, t := range ts {
		by[t.Target] = t
	}
	var checks []RouterCheck
	for _, name := range []string{"shipgate", "shipgate-w50"} {
		sg, ok := by[name]
		if !ok {
			continue
		}
		if sg.AddedP50Ms != nil {
			checks = append(checks, RouterCheck{
				What: fmt.Sprintf("%s: added p50 at %d req/s %.3f ms ≤ 0.300 ms", name, rate, *sg.AddedP50Ms),
				Met:  *sg.AddedP50Ms <= 0.3,
			})
		}
		for _, rp := range []string{"reverseproxy", "reverseproxy-tuned"} {
			o, ok := by[rp]
			if !ok || sg.RPSPerCore == nil || o.RPSPerCore == nil {
				continue
			}
			checks = append(checks, RouterCheck{
				What: fmt.Sprintf("%s: %.0f req/s per core ≥ %s %.0f", name, *sg.RPSPerCore, rp, *o.RPSPerCore),
				Met:  *sg.RPSPerCore >= *o.RPSPerCore,
			})
		}
	}
	return checks
}

// PrintRouter writes a report as the table `bench router` prints.
func PrintRouter(w io.Writer, rep *RouterReport) error {
	mc := rep.Machine
	fmt.Fprintf(w, "Machine: %s, %s cores (%s), Linux %s, %s, %s\n", mc["cpu"], mc["cores"], mc["gomaxprocs"], mc["kernel"], mc["go"], mc["date"])
	fmt.Fprintf(w, "Tools: %s; %s. Load average at start %s, at end %s.\n", mc["wrk"], cmp.Or(mc["nginx"], "no nginx"), mc["loadavg_start"], mc["loadavg_end"])
	s := rep.Settings
	fmt.Fprintf(w, "Latency: open loop, %v req/s over %v keep-alive connections, %v after %v warm-up, from the scheduled send time. Throughput: %v. Median of %v rounds.\n\n",
		s["rate"], s["conns"], s["duration"], s["warmup"], s["wrk"], s["rounds"])
	fmt.Fprintln(w, "| target | p50 ms | p90 ms | p99 ms | added p50 ms | wrk req/s | wrk p50 ms | proxy CPU s | req/s per core | backend CPU s | proxy CPU µs/req at rate |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Targets {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f | %s | %.0f | %.3f | %s | %s | %.2f | %s |\n", r.Target, r.P50Ms, r.P90Ms, r.P99Ms,
			optf(r.AddedP50Ms, "%+.3f"), r.WrkRPS, r.WrkP50Ms, optf(r.ProxyCPUS, "%.2f"), optf(r.RPSPerCore, "%.0f"), r.BackendCPUS, optf(r.CPUPerReqUs, "%.1f"))
	}
	fmt.Fprintln(w, "\nPer round:")
	fmt.Fprintln(w, "\n| round | target | p50 ms | added p50 ms | p99 ms | send lag p50/p90 ms (retries) | errors (latency/wrk) | wrk req/s | req/s per core |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Rounds {
		fmt.Fprintf(w, "| %d | %s | %.3f | %s | %.3f | %.3f/%.3f (%d) | %.0f/%.0f | %.0f | %s |\n", r.Round, r.Target, r.P50Ms, optf(r.AddedP50Ms, "%+.3f"),
			r.P99Ms, r.SendLagP50Ms, r.SendLagP90Ms, r.Retries, r.LatencyErrors, r.WrkErrors, r.WrkRPS, optf(r.RPSPerCore, "%.0f"))
	}
	fmt.Fprintln(w)
	for _, c := range rep.Checks {
		mark := "met"
		if !c.Met {
			mark = "NOT met"
		}
		fmt.Fprintf(w, "- %s: %s\n", c.What, mark)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "- note: %s\n", n)
	}
	_, err := fmt.Fprintln(w, "\nreq/s per core = requests served during the wrk run ÷ the proxy process's CPU seconds (utime+stime) in it; wrk, backend and proxy share the machine's cores.")
	return err
}

func optf(v *float64, format string) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf(format, *v)
}

// benchMachine describes where the bench ran.
func benchMachine(wrk string) map[string]string {
	mc := map[string]string{
		"cores":      strconv.Itoa(runtime.NumCPU()),
		"gomaxprocs": fmt.Sprintf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0)),
		"go":         runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		"date":       time.Now().UTC().Format(time.RFC3339),
		"wrk":        commandVersion(wrk, "-v"),
	}
	mc["loadavg_start"] = loadAvg()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		mc["kernel"] = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("lscpu").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model name" {
				mc["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	return mc
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures: other work on the
// machine during the run shows there.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// commandVersion is the first line a tool prints about its version (nginx
// and wrk print it on stderr, wrk exits 1).
func commandVersion(path string, arg string) string {
	out, _ := exec.Command(path, arg).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(strings.TrimPrefix(line, "nginx version: "))
}
