package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shipgate/shipgate/internal/router"
	"github.com/spf13/cobra"
)

// RouterBenchConfig is what `bench router` measures and how long.
type RouterBenchConfig struct {
	Rounds               int
	Rate, Conns          int
	Warmup, Duration     time.Duration
	WrkThreads, WrkConns int
	WrkDuration          time.Duration
	Targets              []string
	WrkPath, NginxPath   string
	CPUProfileDir        string
}

// routerBenchTargets are all targets in their default order; "direct" must
// come first in every round, since the others are compared against it.
var routerBenchTargets = []string{"direct", "shipgate", "shipgate-w50", "reverseproxy", "reverseproxy-tuned", "reverseproxy-pool", "nginx"}

func (m *Main) benchRouterCommand() *cobra.Command {
	cfg := RouterBenchConfig{}
	var targets string
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Measure the agent's traffic router against a direct backend, httputil.ReverseProxy and nginx",
		Long: `Starts a small HTTP backend and one process per proxy in front of it (the
shipgate router with one stable backend, and at weight 50 with two;
httputil.ReverseProxy with http.DefaultTransport, with the router's tuned
transport, and with that transport and a BufferPool, its best standard-library
setup; nginx with worker_processes 1 and upstream keepalive, when installed),
then, target after target and round after round:

1. latency at a fixed request rate, from an open-loop generator: requests are
   sent on a constant schedule over keep-alive connections and each latency is
   counted from the request's scheduled send time, so a stalled proxy cannot
   hide its queue (no coordinated omission);
2. throughput with wrk, and the proxy process's CPU time (utime+stime from
   /proc) during the run: requests per proxy CPU-second is the throughput per
   core, fair even when wrk, backend and proxy share few cores.

Prints the median over rounds per target. Needs Linux and wrk (apt-get install
wrk); nginx (apt-get install nginx) is optional.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			if cfg.Rounds < 1 || cfg.Rate < 1 || cfg.Conns < 1 || cfg.Duration <= 0 || cfg.WrkDuration < time.Second {
				return fmt.Errorf("--rounds, --rate, --conns and --duration must be positive and --wrk-duration at least 1s")
			}
			if cfg.Targets, err = pickRouterTargets(targets); err != nil {
				return err
			}
			rep, err := m.runRouterBench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return m.printJSON(rep)
			}
			return printRouterBench(m.Stdout, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Rounds, "rounds", 2, "rounds over all targets; the median per target is printed")
	f.IntVar(&cfg.Rate, "rate", 1000, "requests per second of the latency run")
	f.IntVar(&cfg.Conns, "conns", 16, "keep-alive connections of the latency run")
	f.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "unrecorded start of each latency run")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "recorded length of each latency run")
	f.IntVar(&cfg.WrkThreads, "wrk-threads", 1, "wrk -t")
	f.IntVar(&cfg.WrkConns, "wrk-conns", 64, "wrk -c")
	f.DurationVar(&cfg.WrkDuration, "wrk-duration", 10*time.Second, "wrk -d")
	f.StringVar(&targets, "targets", "", "comma-separated targets (default all: "+strings.Join(routerBenchTargets, ",")+")")
	f.StringVar(&cfg.WrkPath, "wrk", "wrk", "wrk binary")
	f.StringVar(&cfg.NginxPath, "nginx", "nginx", "nginx binary; the nginx target is skipped when it is not found")
	f.StringVar(&cfg.CPUProfileDir, "cpuprofile-dir", "", "write a CPU profile of each Go proxy process to DIR/TARGET.pprof")
	m.addOutputFlag(cmd)
	cmd.AddCommand(m.benchRouterBackendCommand(), m.benchRouterProxyCommand())
	return cmd
}

func pickRouterTargets(list string) ([]string, error) {
	if list == "" {
		return routerBenchTargets, nil
	}
	want := map[string]bool{"direct": true}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(routerBenchTargets, t) {
			return nil, fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(routerBenchTargets, ", "))
		}
		want[t] = true
	}
	var out []string
	for _, t := range routerBenchTargets {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// RouterBenchReport is the output of `bench router`.
type RouterBenchReport struct {
	Machine  map[string]string   `json:"machine"`
	Settings map[string]any      `json:"settings"`
	Targets  []RouterBenchResult `json:"targets"` // medians over rounds
	Rounds   []RouterBenchResult `json:"rounds"`
	Checks   []RouterBenchCheck  `json:"checks"`
	Notes    []string            `json:"notes,omitempty"`
}

// RouterBenchResult is one target's figures in one round, or their median.
// Proxy fields are nil for the direct target.
type RouterBenchResult struct {
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

// RouterBenchCheck is one of the project's targets for the router.
type RouterBenchCheck struct {
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

func (m *Main) runRouterBench(ctx context.Context, cfg RouterBenchConfig) (*RouterBenchReport, error) {
	wrk, err := exec.LookPath(cfg.WrkPath)
	if err != nil {
		return nil, fmt.Errorf("wrk not found (%s): apt-get install wrk", cfg.WrkPath)
	}
	rep := &RouterBenchReport{Machine: benchMachine(wrk), Settings: map[string]any{
		"rounds": cfg.Rounds, "rate": cfg.Rate, "conns": cfg.Conns,
		"warmup": cfg.Warmup.String(), "duration": cfg.Duration.String(),
		"wrk": fmt.Sprintf("wrk -t%d -c%d -d%s --latency", cfg.WrkThreads, cfg.WrkConns, cfg.WrkDuration),
	}}
	nginx := ""
	if slices.Contains(cfg.Targets, "nginx") {
		if nginx, err = exec.LookPath(cfg.NginxPath); err != nil {
			note := fmt.Sprintf("nginx not found (%s): skipping the nginx target (apt-get install nginx)", cfg.NginxPath)
			fmt.Fprintln(m.Stderr, note)
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
			r, err := measureTarget(ctx, m.Stderr, cfg, wrk, t)
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
			fmt.Fprintf(m.Stderr, "[round %d/%d] %-18s p50 %.3f ms  p99 %.3f ms  wrk %.0f req/s%s\n", round, cfg.Rounds, t.name,
				r.P50Ms, r.P99Ms, r.WrkRPS, perCoreSuffix(r.RPSPerCore))
			rep.Rounds = append(rep.Rounds, r)
		}
	}
	for _, t := range targets {
		var rs []RouterBenchResult
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
func measureTarget(ctx context.Context, stderr io.Writer, cfg RouterBenchConfig, wrk string, t *benchTarget) (RouterBenchResult, error) {
	r := RouterBenchResult{Target: t.name}
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
func medianResult(rs []RouterBenchResult) RouterBenchResult {
	med := func(get func(RouterBenchResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		if n := len(v); n%2 == 0 {
			return (v[n/2-1] + v[n/2]) / 2
		}
		return v[len(v)/2]
	}
	medp := func(get func(RouterBenchResult) *float64) *float64 {
		if get(rs[0]) == nil {
			return nil
		}
		x := med(func(r RouterBenchResult) float64 { return *get(r) })
		return &x
	}
	return RouterBenchResult{
		Target:        rs[0].Target,
		P50Ms:         med(func(r RouterBenchResult) float64 { return r.P50Ms }),
		P90Ms:         med(func(r RouterBenchResult) float64 { return r.P90Ms }),
		P99Ms:         med(func(r RouterBenchResult) float64 { return r.P99Ms }),
		AddedP50Ms:    medp(func(r RouterBenchResult) *float64 { return r.AddedP50Ms }),
		SendLagP50Ms:  med(func(r RouterBenchResult) float64 { return r.SendLagP50Ms }),
		SendLagP90Ms:  med(func(r RouterBenchResult) float64 { return r.SendLagP90Ms }),
		LatencyErrors: med(func(r RouterBenchResult) float64 { return r.LatencyErrors }),
		CPUPerReqUs:   medp(func(r RouterBenchResult) *float64 { return r.CPUPerReqUs }),
		WrkRPS:        med(func(r RouterBenchResult) float64 { return r.WrkRPS }),
		WrkP50Ms:      med(func(r RouterBenchResult) float64 { return r.WrkP50Ms }),
		WrkErrors:     med(func(r RouterBenchResult) float64 { return r.WrkErrors }),
		ProxyCPUS:     medp(func(r RouterBenchResult) *float64 { return r.ProxyCPUS }),
		RPSPerCore:    medp(func(r RouterBenchResult) *float64 { return r.RPSPerCore }),
		BackendCPUS:   med(func(r RouterBenchResult) float64 { return r.BackendCPUS }),
	}
}

func routerChecks(ts []RouterBenchResult, rate int) []RouterBenchCheck {
	by := map[string]RouterBenchResult{}
	for _, t := range ts {
		by[t.Target] = t
	}
	var checks []RouterBenchCheck
	for _, name := range []string{"shipgate", "shipgate-w50"} {
		sg, ok := by[name]
		if !ok {
			continue
		}
		if sg.AddedP50Ms != nil {
			checks = append(checks, RouterBenchCheck{
				What: fmt.Sprintf("%s: added p50 at %d req/s %.3f ms ≤ 0.300 ms", name, rate, *sg.AddedP50Ms),
				Met:  *sg.AddedP50Ms <= 0.3,
			})
		}
		for _, rp := range []string{"reverseproxy", "reverseproxy-tuned"} {
			o, ok := by[rp]
			if !ok || sg.RPSPerCore == nil || o.RPSPerCore == nil {
				continue
			}
			checks = append(checks, RouterBenchCheck{
				What: fmt.Sprintf("%s: %.0f req/s per core ≥ %s %.0f", name, *sg.RPSPerCore, rp, *o.RPSPerCore),
				Met:  *sg.RPSPerCore >= *o.RPSPerCore,
			})
		}
	}
	return checks
}

func printRouterBench(w io.Writer, rep *RouterBenchReport) error {
	mc := rep.Machine
	fmt.Fprintf(w, "Machine: %s, %s cores (%s), Linux %s, %s, %s\n", mc["cpu"], mc["cores"], mc["gomaxprocs"], mc["kernel"], mc["go"], mc["date"])
	fmt.Fprintf(w, "Tools: %s; %s. Load average at start %s, at end %s.\n", mc["wrk"], cmp(mc["nginx"], "no nginx"), mc["loadavg_start"], mc["loadavg_end"])
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

func cmp(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
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

// benchChild is a process the bench started: a backend or a proxy.
type benchChild struct {
	name, addr, logPath string
	cmd                 *exec.Cmd
	stdin               io.Closer // closing it stops a Go child
	done                chan struct{}
}

func (c *benchChild) pid() int { return c.cmd.Process.Pid }

// stop ends the child: a Go child when its stdin closes (so it can write
// its profile), nginx on SIGTERM; it is killed if it takes more than 5 s.
func (c *benchChild) stop() {
	if c.stdin != nil {
		c.stdin.Close()
	} else {
		c.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// logTail is the end of the child's log, for an error.
func (c *benchChild) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

var logTimestamp = regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |time=\S+ )`)

// logSummary counts the child's log lines by message, for the notes:
// "context canceled" proxy errors are the requests wrk cuts when it stops.
func (c *benchChild) logSummary() string {
	b, _ := os.ReadFile(c.logPath)
	counts := map[string]int{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		line = logTimestamp.ReplaceAllString(line, "")
		if line == "" || strings.Contains(line, `msg="router listening"`) {
			continue
		}
		if counts[line] == 0 {
			order = append(order, line)
		}
		counts[line]++
	}
	var parts []string
	for i, line := range order {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d other messages", len(order)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %q", counts[line], line))
	}
	return strings.Join(parts, "; ")
}

func (c *benchChild) exited(err error) error {
	return fmt.Errorf("%s did not start: %v; its log: %s", c.name, err, cmp(c.logTail(), "(empty)"))
}

// startGoChild runs a hidden bench subcommand of this binary and waits for
// the address it prints once it listens.
func startGoChild(ctx context.Context, dir, name, self string, args ...string) (*benchChild, error) {
	c := &benchChild{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c.cmd = exec.Command(self, args...)
	c.cmd.Stderr = logf
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case c.addr = <-line:
		if c.addr == "" {
			<-c.done
			return c, c.exited(fmt.Errorf("it exited: %s", c.cmd.ProcessState))
		}
		return c, nil
	case <-time.After(10 * time.Second):
		return c, c.exited(errors.New("no address after 10 s"))
	case <-ctx.Done():
		return c, ctx.Err()
	}
}

// startNginx runs nginx in the foreground with a config of its own, one
// worker and keep-alive connections to the backend.
func startNginx(ctx context.Context, dir, nginx, backend string) (*benchChild, error) {
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream backend {
        server %[2]s;
        keepalive 64;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, prefix, backend, addr)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	c := &benchChild{name: "nginx", addr: addr, logPath: filepath.Join(prefix, "error.log"), done: make(chan struct{})}
	c.cmd = exec.Command(nginx, "-e", c.logPath, "-c", confPath, "-p", prefix, "-g", "daemon off;")
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.done:
			return c, c.exited(fmt.Errorf("it exited: %s", c.cmd.ProcessState))
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return c, c.exited(fmt.Errorf("not listening on %s after 10 s", addr))
		}
	}
}

// treeCPU is the user+system CPU time of a process and its descendants
// (nginx's master and worker), from /proc/PID/stat in USER_HZ=100 ticks.
func treeCPU(root int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	type proc struct{ ppid, ticks int64 }
	procs := map[int64]proc{}
	for _, e := range entries {
		pid, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the command name, which may hold spaces: state is
		// field 3, ppid 4, utime 14, stime 15.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.ParseInt(f[1], 10, 64)
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid, ut + st}
	}
	if _, ok := procs[int64(root)]; !ok {
		return 0, fmt.Errorf("process %d is gone", root)
	}
	var ticks int64
	var walk func(int64)
	walk = func(pid int64) {
		ticks += procs[pid].ticks
		for p, pr := range procs {
			if pr.ppid == pid {
				walk(p)
			}
		}
	}
	walk(int64(root))
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

type wrkResult struct {
	rps, p50Ms       float64
	requests, errors int64
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in `)
	wrkP50      = regexp.MustCompile(`\s50%\s+([0-9.]+)(us|ms|s)\b`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func runWrk(ctx context.Context, wrk, addr string, threads, conns int, d time.Duration) (wrkResult, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency", "http://" + addr + "/"}
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	n := wrkRequests.FindStringSubmatch(out)
	p := wrkP50.FindStringSubmatch(out)
	if m == nil || n == nil || p == nil {
		return r, fmt.Errorf("cannot read wrk's output: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseInt(n[1], 10, 64)
	r.p50Ms, _ = strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		r.p50Ms /= 1000
	case "s":
		r.p50Ms *= 1000
	}
	if e := wrkNon2xx.FindStringSubmatch(out); e != nil {
		v, _ := strconv.ParseInt(e[1], 10, 64)
		r.errors += v
	}
	if e := wrkSocket.FindStringSubmatch(out); e != nil {
		for _, s := range e[1:] {
			v, _ := strconv.ParseInt(s, 10, 64)
			r.errors += v
		}
	}
	return r, nil
}

// latencyRun is what the open-loop generator recorded, latencies sorted.
type latencyRun struct {
	lat, lag     []time.Duration
	sent, errors int
}

// loadConn is one keep-alive connection of the generator. A request goes
// out at its scheduled time if the connection is idle, else right after the
// response before it; either way its latency counts from the schedule.
type loadConn struct {
	addr       string
	recordFrom time.Time
	wg         *sync.WaitGroup

	mu       sync.Mutex
	conn     net.Conn
	busy     bool
	dead     bool
	closing  bool
	current  time.Time   // scheduled time of the request in flight
	pending  []time.Time // scheduled, not yet written
	lat, lag []time.Duration
	errors   int
}

var loadRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: shipgate-bench\r\n\r\n")

// send writes the request scheduled at sched; the caller holds c.mu.
func (c *loadConn) send(sched time.Time) {
	c.busy, c.current = true, sched
	if !sched.Before(c.recordFrom) {
		c.lag = append(c.lag, time.Since(sched))
	}
	if _, err := c.conn.Write(loadRequest); err != nil {
		c.conn.Close() // the reader fails and counts it
	}
}

func (c *loadConn) dispatch(sched time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.dead:
		c.errors++
	case c.busy:
		c.wg.Add(1)
		c.pending = append(c.pending, sched)
	default:
		c.wg.Add(1)
		c.send(sched)
	}
}

// read reads responses in order. When the server closes the connection
// (nginx does after keepalive_requests, 1000), it dials again and goes on
// with the requests still pending; only the request in flight on a broken
// connection counts as an error.
func (c *loadConn) read() {
	br := bufio.NewReaderSize(c.conn, 16<<10)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done := time.Now()
		c.mu.Lock()
		if err == nil {
			if resp.StatusCode != http.StatusOK {
				c.errors++
			} else if !c.current.Before(c.recordFrom) {
				c.lat = append(c.lat, done.Sub(c.current))
			}
		} else if c.busy {
			c.errors++
		}
		if c.busy {
			c.busy = false
			c.wg.Done()
		}
		if err != nil || resp.Close {
			c.conn.Close()
			var derr error = net.ErrClosed
			if !c.closing {
				c.conn, derr = net.DialTimeout("tcp", c.addr, 5*time.Second)
			}
			if derr != nil {
				c.dead = true
				c.errors += len(c.pending)
				for range c.pending {
					c.wg.Done()
				}
				c.pending = nil
				c.mu.Unlock()
				return
			}
			br.Reset(c.conn)
		}
		if len(c.pending) > 0 {
			next := c.pending[0]
			c.pending = c.pending[1:]
			c.send(next)
		}
		c.mu.Unlock()
	}
}

// close ends the connection for good.
func (c *loadConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	c.conn.Close()
}

// openLoop sends rate requests per second to addr on a fixed schedule, over
// conns connections taken in turn, and records the latency of those
// scheduled after the warm-up. The schedule is kept by one OS thread
// sleeping in nanosleep: the Go runtime's timers wake up to 1 ms late on
// Linux, which would swamp what is measured.
func openLoop(ctx context.Context, addr string, rate, conns int, warmup, dur time.Duration) (*latencyRun, error) {
	var wg sync.WaitGroup
	cs := make([]*loadConn, conns)
	for i := range cs {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			for _, c := range cs[:i] {
				c.conn.Close()
			}
			return nil, err
		}
		cs[i] = &loadConn{conn: conn, addr: addr, wg: &wg}
	}
	interval := time.Second / time.Duration(rate)
	n := int((warmup + dur) / interval)
	start := time.Now().Add(20 * time.Millisecond)
	for _, c := range cs {
		c.recordFrom = start.Add(warmup)
		go c.read()
	}

	paced := make(chan struct{})
	go func() {
		defer close(paced)
		// Never unlocked: the thread, its timer slack lowered to 1 ns,
		// ends with this goroutine.
		runtime.LockOSThread()
		syscall.RawSyscall(syscall.SYS_PRCTL, 29 /* PR_SET_TIMERSLACK */, 1, 0)
		for i := 0; i < n; i++ {
			sched := start.Add(time.Duration(i) * interval)
			if d := time.Until(sched); d > 0 {
				ts := syscall.NsecToTimespec(int64(d))
				for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
				}
			}
			if i%1000 == 0 && ctx.Err() != nil {
				return
			}
			cs[i%conns].dispatch(sched)
		}
	}()
	<-paced

	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	for _, c := range cs {
		c.close()
	}
	<-drained
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	run := &latencyRun{sent: n}
	for _, c := range cs {
		c.mu.Lock()
		run.lat = append(run.lat, c.lat...)
		run.lag = append(run.lag, c.lag...)
		run.errors += c.errors
		c.mu.Unlock()
	}
	slices.Sort(run.lat)
	slices.Sort(run.lag)
	if len(run.lat) == 0 {
		return nil, fmt.Errorf("no successful request to %s (%d errors)", addr, run.errors)
	}
	return run, nil
}

// benchBody is what the bench backend answers: small and fixed.
var benchBody = []byte("shipgate bench backend: a small fixed body of 64 bytes ........\n")

// benchRouterBackendCommand is the backend child: a tiny HTTP server.
func (m *Main) benchRouterBackendCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:    "backend",
		Short:  "Backend process of bench router (prints its address, exits when stdin closes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			length := []string{strconv.Itoa(len(benchBody))}
			ctype := []string{"text/plain; charset=utf-8"}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = ctype
				w.Header()["Content-Length"] = length
				w.Write(benchBody)
			})
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			return m.serveBenchChild(cmd.Context(), ln.Addr().String(), srv.Close)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	return cmd
}

// benchRouterProxyCommand is a proxy child: the shipgate router or one of
// the httputil.ReverseProxy baselines.
func (m *Main) benchRouterProxyCommand() *cobra.Command {
	var kind, listen, backend, canary, profile string
	var weight int
	cmd := &cobra.Command{
		Use:    "proxy",
		Short:  "Proxy process of bench router (prints its address, exits when stdin closes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			target := &url.URL{Scheme: "http", Host: backend}
			var rp *httputil.ReverseProxy
			switch kind {
			case "shipgate":
				rt := router.New(slog.New(slog.NewTextHandler(os.Stderr, nil)))
				t := router.Table{Stable: &router.Backend{ID: "stable", Version: "v1", Addr: backend}}
				if canary != "" {
					t.Canary, t.Weight = &router.Backend{ID: "canary", Version: "v2", Addr: canary}, weight
				}
				rt.Set("bench", t)
				if err := rt.Serve("bench", listen); err != nil {
					return err
				}
				return m.serveBenchChild(cmd.Context(), rt.Addr("bench"), rt.Close)
			case "reverseproxy":
				rp = httputil.NewSingleHostReverseProxy(target)
			case "reverseproxy-tuned":
				rp = httputil.NewSingleHostReverseProxy(target)
				rp.Transport = benchTunedTransport()
			case "reverseproxy-pool":
				rp = httputil.NewSingleHostReverseProxy(target)
				rp.Transport, rp.BufferPool = benchTunedTransport(), &benchBufferPool{}
			default:
				return fmt.Errorf("unknown --kind %q (shipgate, reverseproxy, reverseproxy-tuned, reverseproxy-pool)", kind)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second} // as the router's
			go srv.Serve(ln)
			return m.serveBenchChild(cmd.Context(), ln.Addr().String(), srv.Close)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "shipgate", "shipgate, reverseproxy (http.DefaultTransport), reverseproxy-tuned (the router's transport) or reverseproxy-pool (that and a BufferPool)")
	f.StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	f.StringVar(&backend, "backend", "", "backend address host:port (the stable one for shipgate)")
	f.StringVar(&canary, "canary", "", "shipgate only: canary backend address")
	f.IntVar(&weight, "weight", 0, "shipgate only: canary weight in percent")
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.MarkFlagRequired("backend")
	return cmd
}

// serveBenchChild prints addr for the parent, then waits for stdin to close
// (the parent is done, or gone) or a signal.
func (m *Main) serveBenchChild(ctx context.Context, addr string, closeFn func() error) error {
	if _, err := fmt.Fprintln(m.Stdout, addr); err != nil {
		return err
	}
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-stdinClosed:
	case <-ctx.Done():
	}
	return closeFn()
}

// benchTunedTransport copies the router's transport (newTransport in
// internal/router/proxy.go), so that reverseproxy-tuned differs from the
// router only in the code around it.
func benchTunedTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// benchBufferPool reuses ReverseProxy's 32 KiB copy buffers.
type benchBufferPool struct{ p sync.Pool }

func (b *benchBufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *benchBufferPool) Put(buf []byte) { b.p.Put(&buf) }
