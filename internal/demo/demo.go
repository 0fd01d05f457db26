package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// Config is what `shipgate demo` runs with.
type Config struct {
	Dir    string
	Listen string
	Delay  int
	Exit   bool
}

// Demo plays the demo. Its server and its wording are injected: the server
// is cmd/shipgate's own serve, and releases, rollbacks and audit details
// read as the CLI writes them elsewhere.
type Demo struct {
	Out io.Writer
	// Serve runs a shipgate server as s describes until ctx ends.
	Serve func(ctx context.Context, s Server) error
	// StateLine, RollbackLine and Summarize render a release's state, a
	// rollback and audit details on one line each.
	StateLine    func(*shipgate.Release) string
	RollbackLine func(*shipgate.Rollback) string
	Summarize    func(json.RawMessage) string
}

// Server is the demo's server: where it listens and keeps its data, the
// directory artifacts may come from, its bootstrap admin token, where it
// logs, and whom it tells its address once it serves.
type Server struct {
	Listen, DataDir, ArtifactRoot string
	Token                         string
	Log                           io.Writer
	Ready                         func(addr string)
}

// Failed says the demo ran but an act did not happen as it should.
type Failed struct{ msg string }

func (f *Failed) Error() string { return f.msg }

// FreePort is a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Run plays the demo: it starts a server with d.Serve, plays both acts
// against it, and then stops, or keeps the server running until ctx ends
// (see cfg.Exit). With cfg.Exit, an act that did not happen as it should
// ends it with a *Failed.
func (d *Demo) Run(ctx context.Context, cfg Config) error {
	out := d.Out
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "shipgate-demo-"); err != nil {
			return err
		}
		// Runs after the server and the demo app are stopped (every
		// return below stops them first).
		defer os.RemoveAll(dir)
	}
	dir, _ = filepath.Abs(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	// The admin token lives with the data, so a demo dir can be reused.
	tokenFile := filepath.Join(dir, "admin-token")
	token := strings.TrimSpace(readFile(tokenFile))
	if token == "" {
		token = shipgate.NewTokenSecret()
		if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
			return err
		}
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	// The server, in this process.
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- d.Serve(srvCtx, Server{
			Listen: cfg.Listen, DataDir: filepath.Join(dir, "data"), ArtifactRoot: dir,
			Token: token, Log: logFile, Ready: func(addr string) { ready <- addr },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-served:
		stopServer()
		if cfg.Dir != "" {
			return fmt.Errorf("demo server did not start: %w (see %s)", err, logFile.Name())
		}
		return fmt.Errorf("demo server did not start: %w\n%s", err, lastLines(logFile.Name(), 20))
	}
	// Stop the server first: a deploy step it is still running would
	// otherwise start a new demo app after the old one was stopped.
	stop := func() {
		stopServer()
		<-served
		StopApp(dir)
	}
	url := "http://" + addr
	c := client.New(url, token)
	fmt.Fprintf(out, "shipgate demo — server %s (data and logs in %s)\n\n", url, dir)

	ok, bad, err := d.rollbackAct(ctx, c, bin, dir, port, cfg.Delay)
	if err != nil {
		stop()
		return err
	}
	canaryOK, canaryBad, front := false, int64(0), ""
	if ok {
		if canaryOK, canaryBad, front, err = d.canaryAct(ctx, c, bin, dir); err != nil {
			stop()
			return err
		}
	}
	if cfg.Exit {
		stop()
		if !ok {
			return &Failed{msg: "demo: the rollback did not happen as it should"}
		}
		if !canaryOK {
			return &Failed{msg: "demo: the canary was not aborted as it should"}
		}
		return nil
	}
	explore(out, url, token, bad, port, canaryBad, front)
	<-ctx.Done()
	stop()
	return nil
}

// explore tells how to look around once the demo has played: the CLI in
// another terminal, and the web UI the same server serves, with the token
// to log in with and the pages that show what just happened.
func explore(out io.Writer, url, token string, bad int64, port int, canaryBad int64, front string) {
	fmt.Fprintf(out, "\nThe server is still running. In another terminal:\n")
	fmt.Fprintf(out, "  export SHIPGATE_SERVER=%s SHIPGATE_TOKEN=%s\n", url, token)
	fmt.Fprintf(out, "  shipgate release list; shipgate release show %d; shipgate audit list; curl http://127.0.0.1:%d/\n", bad, port)
	if canaryBad != 0 {
		fmt.Fprintf(out, "  shipgate release show %d   # the canary, its judge and its evidence\n", canaryBad)
		fmt.Fprintf(out, "  curl -H 'X-Shipgate-Version: stable' %s\n", front)
	}
	fmt.Fprintf(out, "In a browser: open %s/ and log in with the token %s\n", url, token)
	fmt.Fprintf(out, "  %s/releases/%d   # the rollback: the failed health gate, the countdown, the rollback release\n", url, bad)
	if canaryBad != 0 {
		fmt.Fprintf(out, "  %s/releases/%d/rollout   # the canary's rollout view: traffic, errors, the judge's e-values\n", url, canaryBad)
	}
	fmt.Fprintf(out, "Press Ctrl-C to stop it.\n")
}

// rollbackAct is act 1: it deploys v1 and v2 and follows the rollback. It
// reports whether every step happened as it should, and v2's release id.
func (d *Demo) rollbackAct(ctx context.Context, c *client.Client, bin, dir string, port, delay int) (ok bool, bad int64, err error) {
	out := d.Out
	svcFile := filepath.Join(dir, "demo.yaml")
	src := Service(bin, dir, port, delay)
	if err := os.WriteFile(svcFile, []byte(src), 0o600); err != nil {
		return false, 0, err
	}
	if _, err := c.Apply(ctx, "demo.yaml", []byte(src)); err != nil {
		return false, 0, err
	}
	artifact := func(v string, broken bool) (string, error) {
		p := filepath.Join(dir, "demo-"+v+".conf")
		return p, os.WriteFile(p, []byte(fmt.Sprintf("version=%s\nbroken_health=%v\n", v, broken)), 0o600)
	}
	v1art, err := artifact("1.0", false)
	if err != nil {
		return false, 0, err
	}
	v2art, err := artifact("2.0", true)
	if err != nil {
		return false, 0, err
	}
	appURL := fmt.Sprintf("http://127.0.0.1:%d/", port)

	fmt.Fprintf(out, "▶ deploying demo 1.0 (healthy) to production\n")
	v1, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "demo", Environment: "production", Version: "1.0", Artifact: v1art})
	if err != nil {
		return false, 0, err
	}
	r1, err := d.follow(ctx, c, v1.ID, nil)
	if err != nil {
		return false, 0, err
	}
	fmt.Fprintf(out, "  %s → %s", appURL, Fetch(appURL))
	if r1.State != shipgate.StateSucceeded {
		return false, v1.ID, nil
	}

	fmt.Fprintf(out, "\n▶ deploying demo 2.0 (its /healthz fails) to production\n")
	v2, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "demo", Environment: "production", Version: "2.0", Artifact: v2art})
	if err != nil {
		return false, 0, err
	}
	var rollbackID int64
	r2, err := d.follow(ctx, c, v2.ID, &rollbackID)
	if err != nil {
		return false, 0, err
	}
	if rollbackID != 0 {
		fmt.Fprintf(out, "\n▶ rollback release %d\n", rollbackID)
		if _, err := d.follow(ctx, c, rollbackID, nil); err != nil {
			return false, 0, err
		}
		if r2, err = c.Release(ctx, v2.ID); err != nil {
			return false, 0, err
		}
	}
	serving := Fetch(appURL)
	fmt.Fprintf(out, "  %s → %s", appURL, serving)

	fmt.Fprintf(out, "\n▶ what happened to release %d, from the audit log\n", v2.ID)
	for _, e := range r2.Timeline {
		fmt.Fprintf(out, "  %s  %-7s %-22s %s\n", e.At.Local().Format("15:04:05.000"), e.Actor, e.Action, d.Summarize(e.Details))
	}
	n, verr := c.VerifyAudit(ctx)
	if verr != nil {
		fmt.Fprintf(out, "\n✗ audit verify: %v\n", verr)
		return false, 0, nil
	}
	fmt.Fprintf(out, "\n✓ audit verify: chain OK, %d events\n", n)
	ok = r2.State == shipgate.StateRolledBack && strings.Contains(serving, "1.0")
	if ok {
		fmt.Fprintf(out, "✓ release %d is %s; demo-app 1.0 serves again on the same port\n", v2.ID, r2.State)
	} else {
		fmt.Fprintf(out, "✗ release %d is %s; the app answers %q\n", v2.ID, r2.State, strings.TrimSpace(serving))
	}
	return ok, v2.ID, nil
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// Fetch is the first KiB of url's answer, or "(no answer: …)", for
// printing beside the url.
func Fetch(url string) string {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "(no answer: " + err.Error() + ")\n"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return string(b)
}

// follow prints a release's progress — state, jobs, probes, rollback —
// until it is final and, if it has a rollback, until that is settled. It
// stores the id of a rollback release in rollbackID.
func (d *Demo) follow(ctx context.Context, c *client.Client, id int64, rollbackID *int64) (*client.ReleaseView, error) {
	out := d.Out
	seen := map[string]bool{}
	say := func(key, line string) {
		if !seen[key] {
			seen[key] = true
			fmt.Fprintf(out, "  %s  %s\n", time.Now().Format("15:04:05.000"), line)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		v, err := c.Release(ctx, id)
		if err != nil {
			return nil, err
		}
		say("state "+string(v.State), fmt.Sprintf("release %d %s", v.ID, d.StateLine(v.Release)))
		for _, j := range v.Jobs {
			say("job "+j.Name+" "+string(j.State), fmt.Sprintf("job %s %s", j.Name, j.State))
		}
		for _, jp := range v.Probes {
			for _, p := range jp.Probes {
				line := fmt.Sprintf("%s probe %d: healthy (%dms)", jp.Job, p.Seq, p.LatencyMS)
				if !p.OK {
					line = fmt.Sprintf("%s probe %d: UNHEALTHY — %s", jp.Job, p.Seq, p.Reason)
				}
				if p.Watch {
					line += " (watching while the rollback waits)"
				}
				say(fmt.Sprintf("probe %s %d", jp.Job, p.Seq), line)
			}
		}
		for _, ro := range v.Rollouts {
			st := ro.Status
			say(fmt.Sprintf("rollout %s %d", ro.Job, st.Weight), fmt.Sprintf("rollout %s: canary %s at %d%%", st.Phase, st.CanaryVersion, st.Weight))
			for _, d := range st.Decisions {
				if d.Phase != shipgate.AnalysisSuccessful {
					say("decision "+d.Summary, fmt.Sprintf("%s judge: %s", d.Judge, d.Summary))
				}
			}
			if st.Phase == shipgate.RolloutAborted {
				say("aborted "+ro.Job, "rollout aborted: all traffic back on "+st.StableVersion+", canary stopped")
			}
		}
		rb := v.Rollback
		if rb != nil {
			if rb.State == shipgate.RollbackPending && rb.FiresAt != nil {
				left := max(time.Until(*rb.FiresAt), 0).Round(time.Second)
				say(fmt.Sprintf("countdown %s", left), d.RollbackLine(rb))
			} else {
				say("rollback "+string(rb.State), d.RollbackLine(rb))
			}
			if rb.RollbackRelease != 0 && rollbackID != nil {
				*rollbackID = rb.RollbackRelease
			}
		}
		settled := rb == nil || !rb.Open()
		if v.State.Final() && settled {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("release %d did not settle in time", id)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lastLines is the end of a file, for an error whose log is about to be
// removed with the demo's temporary directory.
func lastLines(name string, n int) string {
	lines := strings.Split(strings.TrimSpace(readFile(name)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
