package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Defaults for health checks that leave settings out.
const (
	defaultCheckInterval = 5 * time.Second
	defaultFailAfter     = 3
	defaultPassAfter     = 1
)

// checker runs one health check and reports every probe to the server.
type checker struct {
	r       *Runner
	key     shipgate.AttemptKey
	c       *shipgate.Check
	dir     string
	env     []string
	logs    *shipper
	log     *slog.Logger
	seq     int64
	timeout time.Duration // per probe
}

func (r *Runner) newChecker(a *shipgate.Assignment, dir string, env []string, logs *shipper, log *slog.Logger) *checker {
	ck := &checker{r: r, key: a.Key, c: a.Job.Check, dir: dir, env: env, logs: logs, log: log}
	ck.timeout = min(ck.interval(), 10*time.Second)
	if ck.c.HTTP != nil && ck.c.HTTP.Timeout > 0 {
		ck.timeout = ck.c.HTTP.Timeout.Std()
	}
	return ck
}

func (ck *checker) interval() time.Duration {
	if ck.c.Interval > 0 {
		return ck.c.Interval.Std()
	}
	return defaultCheckInterval
}

func (ck *checker) thresholds() (pass, fail int) {
	pass, fail = ck.c.PassAfter, ck.c.FailAfter
	if pass <= 0 {
		pass = defaultPassAfter
	}
	if fail <= 0 {
		fail = defaultFailAfter
	}
	return pass, fail
}

// probeOnce runs one probe, logs it and reports it. It returns the result
// and the server's reply.
func (ck *checker) probeOnce(ctx context.Context, watch bool, passes, fails int) (shipgate.ProbeResult, shipgate.ProbeReply) {
	pass, fail := ck.thresholds()
	start := time.Now()
	err := ck.r.probe(ctx, ck.c, ck.timeout, ck.dir, ck.env)
	ck.seq++
	res := shipgate.ProbeResult{Seq: ck.seq, At: start.UTC(), LatencyMS: time.Since(start).Milliseconds(), OK: err == nil, Watch: watch}
	if err != nil {
		res.Reason = err.Error()
	}
	prefix := fmt.Sprintf("probe %d", ck.seq)
	if watch {
		prefix = fmt.Sprintf("watch probe %d", ck.seq)
	}
	if res.OK {
		ck.logs.flushLine("system", fmt.Sprintf("%s: healthy (%dms) — %d/%d passes", prefix, res.LatencyMS, passes+1, pass))
	} else {
		ck.logs.flushLine("system", fmt.Sprintf("%s: unhealthy (%dms): %s — %d/%d failures", prefix, res.LatencyMS, res.Reason, fails+1, fail))
	}
	reply, rerr := ck.r.Coord.Probes(context.WithoutCancel(ctx), ck.r.Info.Name, ck.key, []shipgate.ProbeResult{res}, false)
	if rerr != nil {
		ck.log.Warn("could not report a probe", "err", rerr)
	}
	return res, reply
}

// run probes until PassAfter consecutive successes (the job succeeds) or
// FailAfter consecutive failures (it fails); a failure streak shorter than
// FailAfter is a blip and is forgiven by the next success. The check's own
// timeout, else the job's, bounds the whole thing.
func (ck *checker) run(ctx context.Context) shipgate.JobOutcome {
	pass, fail := ck.thresholds()
	if ck.c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, ck.c.Timeout.Std(), fmt.Errorf("check timed out after %s", ck.c.Timeout.Std()))
		defer cancel()
	}
	passes, fails := 0, 0
	var last shipgate.ProbeResult
	for {
		res, _ := ck.probeOnce(ctx, false, passes, fails)
		if ctx.Err() != nil {
			return stopped(context.Cause(ctx), "health check", -1)
		}
		if res.OK {
			passes, fails = passes+1, 0
			if passes >= pass {
				zero := 0
				return shipgate.JobOutcome{Succeeded: true, ExitCode: &zero}
			}
		} else {
			passes, fails, last = 0, fails+1, res
			if fails >= fail {
				return shipgate.JobOutcome{Reason: fmt.Sprintf("health check failed %d times in a row; last: %s", fails, last.Reason)}
			}
		}
		if !sleepCtx(ctx, ck.interval()) {
			return stopped(context.Cause(ctx), "health check", -1)
		}
	}
}

// watch goes on probing after the check failed, for as long as its
// rollback waits (or may yet wait: other jobs of the release can still be
// running): PassAfter consecutive successes call the rollback off. It ends
// when the server says the rollback no longer waits, or after d.
func (ck *checker) watch(ctx context.Context, d time.Duration) {
	pass, _ := ck.thresholds()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	passes := 0
	for sleepCtx(ctx, ck.interval()) {
		res, reply := ck.probeOnce(ctx, true, passes, 0)
		if ctx.Err() != nil || reply.Stop {
			return
		}
		if !res.OK {
			passes = 0
			continue
		}
		if passes++; passes >= pass {
			if passes == pass {
				ck.logs.flushLine("system", fmt.Sprintf("recovered: %d consecutive passes; asking to call the rollback off", passes))
			}
			// Say it until the server has decided: while other jobs of the
			// release still run, there is no rollback to call off yet.
			reply, err := ck.r.Coord.Probes(context.WithoutCancel(ctx), ck.r.Info.Name, ck.key, nil, true)
			if err != nil {
				ck.log.Warn("could not report the recovery", "err", err)
			} else if reply.Stop {
				return
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *Runner) probe(ctx context.Context, c *shipgate.Check, timeout time.Duration, dir string, env []string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case c.HTTP != nil:
		return probeHTTP(ctx, c.HTTP)
	case c.TCP != nil:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.TCP.Address)
		if err != nil {
			return err
		}
		return conn.Close()
	case c.Command != nil:
		argv := c.Command.Exec
		if len(argv) == 0 {
			argv = []string{"/bin/sh", "-c", c.Command.Run}
		}
		code, err := r.runProcess(ctx, argv, dir, env, io.Discard, io.Discard)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("command did not finish within %s", timeout)
		}
		if code != 0 {
			return fmt.Errorf("command exited with status %d", code)
		}
		return nil
	}
	return fmt.Errorf("check has no probe")
}

// probeClient opens a fresh connection per probe: a health check should see
// what a new client sees, and must not hold the service's connections open.
var probeClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func probeHTTP(ctx context.Context, c *shipgate.HTTPCheck) error {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within the probe timeout")
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(c.ExpectStatus) > 0 {
		ok = slices.Contains(c.ExpectStatus, resp.StatusCode)
	}
	if !ok {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if c.BodyContains != "" && !strings.Contains(string(body), c.BodyContains) {
		return fmt.Errorf("body does not contain %q", c.BodyContains)
	}
	if c.JSONPath != "" {
		steps, err := shipgate.ParseJSONPath(c.JSONPath)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return fmt.Errorf("body is not JSON")
		}
		v, found := shipgate.Lookup(doc, steps)
		if !found {
			return fmt.Errorf("%s is missing from the body", c.JSONPath)
		}
		got := fmt.Sprint(v)
		if s, isString := v.(string); isString {
			got = s
		} else if b, err := json.Marshal(v); err == nil {
			got = string(b)
		}
		if got != c.JSONEquals {
			return fmt.Errorf("%s is %s, want %s", c.JSONPath, got, c.JSONEquals)
		}
	}
	return nil
}
