package runner

import (
	"context"
	"fmt"
	"io"
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

// runCheck probes until PassAfter consecutive successes (the job succeeds)
// or FailAfter consecutive failures (it fails); a failure streak shorter than
// FailAfter is a blip and is forgiven by the next success. The check's own
// timeout, else the job's, bounds the whole thing.
func (r *Runner) runCheck(ctx context.Context, c *shipgate.Check, dir string, env []string, logs *shipper) shipgate.JobOutcome {
	interval := c.Interval.Std()
	if interval <= 0 {
		interval = defaultCheckInterval
	}
	passAfter, failAfter := c.PassAfter, c.FailAfter
	if passAfter <= 0 {
		passAfter = defaultPassAfter
	}
	if failAfter <= 0 {
		failAfter = defaultFailAfter
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.Timeout.Std(), fmt.Errorf("check timed out after %s", c.Timeout.Std()))
		defer cancel()
	}
	passes, fails, probes := 0, 0, 0
	for {
		probes++
		start := time.Now()
		err := r.probe(ctx, c, min(interval, 10*time.Second), dir, env)
		latency := time.Since(start).Round(time.Millisecond)
		if ctx.Err() != nil {
			return stopped(context.Cause(ctx), "health check", -1)
		}
		if err == nil {
			passes, fails = passes+1, 0
			logs.flushLine("system", fmt.Sprintf("probe %d: healthy (%s) — %d/%d passes", probes, latency, passes, passAfter))
			if passes >= passAfter {
				zero := 0
				return shipgate.JobOutcome{Succeeded: true, ExitCode: &zero}
			}
		} else {
			passes, fails = 0, fails+1
			logs.flushLine("system", fmt.Sprintf("probe %d: unhealthy (%s): %v — %d/%d failures", probes, latency, err, fails, failAfter))
			if fails >= failAfter {
				return shipgate.JobOutcome{Reason: fmt.Sprintf("health check failed %d times in a row; last: %v", fails, err)}
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return stopped(context.Cause(ctx), "health check", -1)
		case <-t.C:
		}
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
		if code != 0 {
			return fmt.Errorf("command exited with status %d", code)
		}
		return nil
	}
	return fmt.Errorf("check has no probe")
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
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
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
	return nil
}
