package runner

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/supervisor"
	"github.com/shipgate/shipgate/internal/testutil"
)

// The test binary doubles as a supervised service: with helperEnv set to
// "serve" it runs helperServe instead of the tests. Its behaviour comes
// from the service's env (the job's service.env), its version from
// ${VERSION} on its command line.
const (
	helperEnv         = "SHIPGATE_ROLLOUT_HELPER"
	helperErrorsEnv   = "HELPER_ERROR_RATE"    // share of "/" answered 500, e.g. 0.5
	helperHealthEnv   = "HELPER_HEALTH_STATUS" // status of /healthz; 200 by default
	helperStartGate   = "HELPER_START_GATE"    // listen only once this file exists
	helperVersionFlag = "-version"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "serve" {
		helperServe(os.Args[1:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperServe answers "version X" on 127.0.0.1:$PORT, failing a fixed
// share of requests (deterministically: every second one for 0.5), and
// /healthz with HELPER_HEALTH_STATUS. It exits when SIGTERMed (Go's default)
// and when the test process that started it is gone, so a test that dies
// leaks nothing for long.
func helperServe(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	version := fs.String(helperVersionFlag[1:], "", "the version to answer")
	fs.Parse(args)
	rate, _ := strconv.ParseFloat(os.Getenv(helperErrorsEnv), 64)
	health := http.StatusOK
	if s := os.Getenv(helperHealthEnv); s != "" {
		health, _ = strconv.Atoi(s)
	}
	if gate := os.Getenv(helperStartGate); gate != "" {
		// The service is slow to start until the test says otherwise.
		tick := time.NewTicker(20 * time.Millisecond)
		for _, err := os.Stat(gate); err != nil; _, err = os.Stat(gate) {
			<-tick.C
		}
		tick.Stop()
	}
	parent := os.Getppid()
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			if os.Getppid() != parent {
				os.Exit(3)
			}
		}
	}()
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(health)
		fmt.Fprintf(w, "health of %s\n", *version)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		wd, _ := os.Getwd()
		json.NewEncoder(w).Encode(helperInfo{Args: os.Args, Env: os.Environ(), Dir: wd})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		i := float64(n.Add(1))
		if int(i*rate) > int((i-1)*rate) {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintf(w, "version %s\n", *version)
	})
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	fmt.Println("serving", *version, "on", l.Addr())
	http.Serve(l, mux)
}

// helperInfo is what GET /env tells about the process.
type helperInfo struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
}

// fakeCoord is the server as a rollout sees it: it serves artifacts,
// records rollout statuses and outcomes, answers promotions from a value
// the test sets, and cancels attempts when told to.
type fakeCoord struct {
	mu        sync.Mutex // all but statuses: a lock shared with the rollout's reports would hide its races from -race
	smu       sync.Mutex // statuses, promoted, replies, onStatus
	artifacts map[shipgate.AttemptKey]string
	statuses  map[shipgate.AttemptKey][]shipgate.RolloutStatus
	outcomes  map[shipgate.AttemptKey]shipgate.JobOutcome
	logs      map[shipgate.AttemptKey]*strings.Builder
	promoted  int         // PromotedThrough in every reply
	replies   map[int]int // Rollout replies given, by PromotedThrough
	cancel    string      // non-empty: heartbeats answer Cancel with this reason
	onStatus  func(shipgate.RolloutStatus)
}

func newFakeCoord() *fakeCoord {
	return &fakeCoord{artifacts: map[shipgate.AttemptKey]string{}, statuses: map[shipgate.AttemptKey][]shipgate.RolloutStatus{},
		outcomes: map[shipgate.AttemptKey]shipgate.JobOutcome{}, logs: map[shipgate.AttemptKey]*strings.Builder{},
		promoted: -1, replies: map[int]int{}}
}

func (f *fakeCoord) Claim(context.Context, shipgate.ClaimRequest) (*shipgate.Assignment, bool, error) {
	return nil, false, nil
}
func (f *fakeCoord) Held(context.Context, string) ([]shipgate.HeldAttempt, error) { return nil, nil }
func (f *fakeCoord) Probes(context.Context, string, shipgate.AttemptKey, []shipgate.ProbeResult, bool) (shipgate.ProbeReply, error) {
	return shipgate.ProbeReply{}, nil
}

func (f *fakeCoord) Artifact(_ context.Context, _ string, key shipgate.AttemptKey) (io.ReadCloser, error) {
	f.mu.Lock()
	path, ok := f.artifacts[key]
	f.mu.Unlock()
	if !ok {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "no artifact for %v", key)
	}
	return os.Open(path)
}

func (f *fakeCoord) Heartbeat(context.Context, string, shipgate.AttemptKey) (shipgate.HeartbeatReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return shipgate.HeartbeatReply{LeaseUntil: time.Now().Add(time.Minute), Cancel: f.cancel != "", Reason: f.cancel}, nil
}

func (f *fakeCoord) AppendLogs(_ context.Context, _ string, key shipgate.AttemptKey, chunks []shipgate.LogChunk) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.logs[key]
	if b == nil {
		b = &strings.Builder{}
		f.logs[key] = b
	}
	for _, c := range chunks {
		b.WriteString(c.Data)
	}
	return nil
}

func (f *fakeCoord) Finish(_ context.Context, _ string, key shipgate.AttemptKey, out shipgate.JobOutcome) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcomes[key] = out
	return nil
}

func (f *fakeCoord) Rollout(_ context.Context, _ string, key shipgate.AttemptKey, st shipgate.RolloutStatus) (shipgate.RolloutReply, error) {
	f.smu.Lock()
	f.statuses[key] = append(f.statuses[key], st)
	hook, p := f.onStatus, f.promoted
	f.replies[p]++
	f.smu.Unlock()
	if hook != nil {
		hook(st)
	}
	return shipgate.RolloutReply{PromotedThrough: p}, nil
}

func (f *fakeCoord) setPromoted(step int) {
	f.smu.Lock()
	defer f.smu.Unlock()
	f.promoted = step
}

func (f *fakeCoord) repliesWith(promoted int) int {
	f.smu.Lock()
	defer f.smu.Unlock()
	return f.replies[promoted]
}

func (f *fakeCoord) setCancel(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancel = reason
}

func (f *fakeCoord) setOnStatus(h func(shipgate.RolloutStatus)) {
	f.smu.Lock()
	defer f.smu.Unlock()
	f.onStatus = h
}

// statusesOf returns the statuses of an attempt in seq order (reports may
// arrive out of order).
func (f *fakeCoord) statusesOf(key shipgate.AttemptKey) []shipgate.RolloutStatus {
	f.smu.Lock()
	out := slices.Clone(f.statuses[key])
	f.smu.Unlock()
	slices.SortStableFunc(out, func(a, b shipgate.RolloutStatus) int { return int(a.Seq - b.Seq) })
	return out
}

// latest is the newest status of an attempt, by seq.
func (f *fakeCoord) latest(key shipgate.AttemptKey) (shipgate.RolloutStatus, bool) {
	all := f.statusesOf(key)
	if len(all) == 0 {
		return shipgate.RolloutStatus{}, false
	}
	return all[len(all)-1], true
}

func (f *fakeCoord) outcome(key shipgate.AttemptKey) (shipgate.JobOutcome, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out, ok := f.outcomes[key]
	return out, ok
}

// rig is an agent with supervised services, run by a Runner against a
// fakeCoord, with the test binary as every version of the service "shop".
type rig struct {
	t     *testing.T
	coord *fakeCoord
	root  string
	dir   string // the agent's services directory
	svc   *Services
	r     *Runner
	bin   string
	http  *http.Client

	ctx     context.Context // ends at cleanup: Executes still running stop
	cancel  context.CancelFunc
	running sync.WaitGroup

	mu    sync.Mutex
	arts  map[string][2]string // version → path, sha256
	next  int64
	order []shipgate.AttemptKey
}

// rkey is the service key of the rig's job: service/environment/job.
const rkey = "shop/prod/rollout"

func newRig(t *testing.T) *rig {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	g := &rig{t: t, coord: newFakeCoord(), root: root, dir: filepath.Join(root, "services"), bin: bin, arts: map[string][2]string{},
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.r = &Runner{Coord: g.coord, Info: shipgate.RunnerInfo{Name: "agent-1"}, WorkDir: filepath.Join(root, "work"),
		HeartbeatInterval: 50 * time.Millisecond, KillGrace: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	g.open()
	t.Cleanup(func() {
		g.cancel()
		g.running.Wait()
		if t.Failed() {
			g.dumpLogs()
		}
		g.svc.StopAll(context.Background())
		g.http.CloseIdleConnections()
	})
	return g
}

// open (re)opens the agent's services, as an agent start does.
func (g *rig) open() {
	g.t.Helper()
	svc, err := OpenServices(g.dir, slog.New(slog.DiscardHandler))
	if err != nil {
		g.t.Fatal(err)
	}
	g.svc, g.r.Services = svc, svc
}

func (g *rig) dumpLogs() {
	g.mu.Lock()
	keys := slices.Clone(g.order)
	g.mu.Unlock()
	for _, k := range keys {
		g.coord.mu.Lock()
		var s string
		if b := g.coord.logs[k]; b != nil {
			s = b.String()
		}
		g.coord.mu.Unlock()
		g.t.Logf("log of release %d:\n%s", k.ReleaseID, s)
	}
}

// artifact is the file released as version: the same bytes (and digest)
// every time it is asked for.
func (g *rig) artifact(version string) (path, sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a, ok := g.arts[version]; ok {
		return a[0], a[1]
	}
	path = filepath.Join(g.root, "artifacts", "shop-"+version+".bin")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("shop "+version+"\n"), 0o644); err != nil {
		g.t.Fatal(err)
	}
	sha, _, err := HashFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	g.arts[version] = [2]string{path, sha}
	return path, sha
}

// job is the rollout job of the service: the helper serving on ${PORT},
// fronted on 127.0.0.1 at a port the router picks, with env added to the
// helper's environment.
func (g *rig) job(strategy *shipgate.Strategy, env map[string]string) shipgate.Job {
	e := map[string]string{helperEnv: "serve"}
	maps.Copy(e, env)
	return shipgate.Job{Name: "rollout", Timeout: shipgate.Duration(3 * time.Minute), Strategy: strategy,
		Service: &shipgate.ServiceProcess{
			Exec:         []string{g.bin, helperVersionFlag, "${VERSION}"},
			Env:          e,
			Listen:       "127.0.0.1:0",
			Health:       &shipgate.ServiceHealth{Path: "/healthz", Interval: shipgate.Duration(200 * time.Millisecond)},
			StopGrace:    shipgate.Duration(2 * time.Second),
			StartTimeout: shipgate.Duration(30 * time.Second),
		}}
}

// release is an assignment of job for version, as a new release.
func (g *rig) release(version string, job shipgate.Job) *shipgate.Assignment {
	path, sha := g.artifact(version)
	g.mu.Lock()
	g.next++
	key := shipgate.AttemptKey{ReleaseID: g.next, Run: 1, Job: job.Name, Attempt: 1}
	g.order = append(g.order, key)
	g.mu.Unlock()
	g.coord.mu.Lock()
	g.coord.artifacts[key] = path
	g.coord.mu.Unlock()
	return &shipgate.Assignment{Key: key, JobID: key.ReleaseID, Service: "shop", Env: "prod", Version: version,
		Artifact: shipgate.Artifact{Location: path, SHA256: sha}, Job: job}
}

// execute runs a to its end.
func (g *rig) execute(a *shipgate.Assignment) shipgate.JobOutcome {
	g.t.Helper()
	return g.wait(g.start(g.ctx, a))
}

// start runs a in the background.
func (g *rig) start(ctx context.Context, a *shipgate.Assignment) <-chan shipgate.JobOutcome {
	ch := make(chan shipgate.JobOutcome, 1)
	g.running.Add(1)
	go func() {
		defer g.running.Done()
		ch <- g.r.Execute(ctx, a)
	}()
	return ch
}

func (g *rig) wait(ch <-chan shipgate.JobOutcome) shipgate.JobOutcome {
	g.t.Helper()
	select {
	case out := <-ch:
		return out
	case <-time.After(3 * time.Minute):
		g.t.Fatal("timed out waiting for the outcome")
		return shipgate.JobOutcome{}
	}
}

// deploy makes version the stable one: the first version takes all
// traffic.
func (g *rig) deploy(version string, env map[string]string) supervisor.Instance {
	g.t.Helper()
	if out := g.execute(g.release(version, g.job(nil, env))); !out.Succeeded {
		g.t.Fatalf("deploying %s: %+v", version, out)
	}
	in, ok := g.instance(version)
	if !ok {
		g.t.Fatalf("no instance of %s after deploying it", version)
	}
	return in
}

// instance is the one running instance of version.
func (g *rig) instance(version string) (supervisor.Instance, bool) {
	var found []supervisor.Instance
	for _, in := range g.svc.Sup.List() {
		if in.Spec.Version == version {
			found = append(found, in)
		}
	}
	if len(found) > 1 {
		panic(fmt.Sprintf("%d instances of %s", len(found), version))
	}
	if len(found) == 0 {
		return supervisor.Instance{}, false
	}
	return found[0], true
}

func (g *rig) versions() []string {
	var vs []string
	for _, in := range g.svc.Sup.List() {
		vs = append(vs, in.Spec.Version)
	}
	slices.Sort(vs)
	return vs
}

func (g *rig) front() string { return g.svc.Router.Addr(rkey) }

// get asks addr for its version; status is the HTTP status.
func (g *rig) get(addr string) (version string, status int, err error) {
	resp, err := g.http.Get("http://" + addr + "/")
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "version ")
	if !ok {
		return "", resp.StatusCode, fmt.Errorf("%s answered %d %q", addr, resp.StatusCode, b)
	}
	if h := resp.Header.Get("X-Shipgate-Version"); h != "" && h != v {
		return "", resp.StatusCode, fmt.Errorf("%s answered version %s with X-Shipgate-Version %s", addr, v, h)
	}
	return v, resp.StatusCode, nil
}

// served asks addr n times and returns the versions that answered.
func (g *rig) served(addr string, n int) map[string]int {
	g.t.Helper()
	seen := map[string]int{}
	for range n {
		v, _, err := g.get(addr)
		if err != nil {
			g.t.Fatalf("GET %s: %v", addr, err)
		}
		seen[v]++
	}
	return seen
}

// onlyServes checks that every one of n requests to addr is answered by
// version.
func (g *rig) onlyServes(addr, version string) {
	g.t.Helper()
	if seen := g.served(addr, 20); len(seen) != 1 || seen[version] != 20 {
		g.t.Fatalf("%s served %v; want only %s", addr, seen, version)
	}
}

// load sends requests to an address until stopped, counting the answers
// by version.
type load struct {
	mu     sync.Mutex
	counts map[string]int // by version; "" for failures
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (g *rig) drive(addr string, workers int) *load {
	l := &load{counts: map[string]int{}, stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tk := time.NewTicker(2 * time.Millisecond) // a rate, not a wait
			defer tk.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tk.C:
				}
				v, _, _ := g.get(addr)
				l.mu.Lock()
				l.counts[v]++
				l.mu.Unlock()
			}
		}()
	}
	g.t.Cleanup(l.halt)
	return l
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) seen() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.counts)
}

// waitStatus waits for a status of key that matches, and returns it.
func (g *rig) waitStatus(key shipgate.AttemptKey, what string, match func(shipgate.RolloutStatus) bool) shipgate.RolloutStatus {
	g.t.Helper()
	var found shipgate.RolloutStatus
	testutil.WaitFor(g.t, what, func() bool {
		for _, s := range g.coord.statusesOf(key) {
			if match(s) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

func intp(n int) *int { return &n }

func canary(steps ...shipgate.CanaryStep) *shipgate.Strategy {
	return &shipgate.Strategy{Canary: &shipgate.CanaryStrategy{Steps: steps}}
}

func setWeight(w int) shipgate.CanaryStep { return shipgate.CanaryStep{SetWeight: intp(w)} }

func pause(d time.Duration) shipgate.CanaryStep {
	return shipgate.CanaryStep{Pause: &shipgate.Pause{Duration: shipgate.Duration(d)}}
}

var halfErrors = map[string]string{helperErrorsEnv: "0.5"}

// freeAddr is a loopback address nothing listens on right now, outside
// the ephemeral range (testutil.FreeAddr).
func freeAddr(t *testing.T) string { return testutil.FreeAddr(t) }

// metricServer serves {"value": V} for an HTTP metric, V as the test sets
// it; with a gate, answers wait until the gate is opened.
func metricServer(t *testing.T, value string, gate <-chan struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, `{"value": %s}`, value)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func httpMetric(name, url, success, failure string) shipgate.AnalysisMetric {
	return shipgate.AnalysisMetric{Name: name, SuccessCondition: success, FailureCondition: failure,
		Provider: shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: url, JSONPath: "value", Timeout: shipgate.Duration(time.Minute)}}}
}
