package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// canaryService is the demo's second act: the demo app as a
// supervised service behind the built-in runner's traffic router, moved
// by a canary that the background sequential judge watches.
func canaryService(bin string, front int) string {
	return AppService("demo-canary", bin, fmt.Sprintf("127.0.0.1:%d", front), "", "15m", `canary:
  steps:
    - set_weight: 10
    - pause: 5m
    - set_weight: 50
    - pause: 5m
  background_analysis:
    sequential: { alpha: 0.01 }`)
}

// canaryAct is act 2: it deploys canary 1.0, puts live traffic on it, then canaries
// 2.0 — which answers half its requests with 500 — at 10%, and shows the
// judge abort it and traffic return to 1.0 before the rollback release
// even starts. It reports whether all of that happened.
func (d *Demo) canaryAct(ctx context.Context, c *client.Client, bin, dir string) (ok bool, bad int64, front string, err error) {
	out := d.Out
	port, err := FreePort()
	if err != nil {
		return false, 0, "", err
	}
	front = fmt.Sprintf("http://127.0.0.1:%d/", port)
	src := canaryService(bin, port)
	if err := os.WriteFile(filepath.Join(dir, "demo-canary.yaml"), []byte(src), 0o600); err != nil {
		return false, 0, "", err
	}
	if _, err := c.Apply(ctx, "demo-canary.yaml", []byte(src)); err != nil {
		return false, 0, "", err
	}
	artifact := func(v string, errorRate float64) (string, error) {
		p := filepath.Join(dir, "demo-canary-"+v+".conf")
		return p, os.WriteFile(p, []byte(fmt.Sprintf("version=%s\nerror_rate=%g\n", v, errorRate)), 0o600)
	}
	v1art, err := artifact("1.0", 0)
	if err != nil {
		return false, 0, "", err
	}
	v2art, err := artifact("2.0", 0.5)
	if err != nil {
		return false, 0, "", err
	}

	fmt.Fprintf(out, "\n▶ act 2: a canary. demo-canary 1.0 goes live behind the traffic router on %s\n", front)
	v1, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "demo-canary", Environment: "production", Version: "1.0", Artifact: v1art})
	if err != nil {
		return false, 0, front, err
	}
	if r, err := d.follow(ctx, c, v1.ID, nil); err != nil || r.State != shipgate.StateSucceeded {
		return false, v1.ID, front, err
	}
	l := StartLoad(front, 4, 10*time.Millisecond)
	defer l.End()
	fmt.Fprintf(out, "  clients now send about 400 requests/s to %s\n", front)

	fmt.Fprintf(out, "\n▶ canary of demo-canary 2.0 — it answers half of its requests with 500 — at 10%% of traffic,\n  watched by the sequential judge\n")
	start := time.Now()
	v2, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "demo-canary", Environment: "production", Version: "2.0", Artifact: v2art})
	if err != nil {
		return false, 0, front, err
	}
	var rollbackID int64
	v, err := d.follow(ctx, c, v2.ID, &rollbackID)
	if err != nil {
		return false, v2.ID, front, err
	}
	if rollbackID != 0 {
		if _, err := d.follow(ctx, c, rollbackID, nil); err != nil {
			return false, v2.ID, front, err
		}
		if v, err = c.Release(ctx, v2.ID); err != nil {
			return false, v2.ID, front, err
		}
	}

	// What the clients saw, against when the rollback release was created.
	var firstBad, lastCanary time.Time
	canary, bad500 := 0, 0
	for _, r := range l.Since(start) {
		if r.Version != "2.0" {
			continue
		}
		canary++
		lastCanary = r.At
		if r.Status >= 500 {
			bad500++
			if firstBad.IsZero() {
				firstBad = r.At
			}
		}
	}
	var rbCreated time.Time
	if v.Rollback != nil && v.Rollback.RollbackRelease != 0 {
		if rb, err := c.Release(ctx, v.Rollback.RollbackRelease); err == nil {
			rbCreated = rb.CreatedAt
		}
	}
	fmt.Fprintf(out, "  %s → %s", front, Fetch(front))
	if firstBad.IsZero() {
		fmt.Fprintf(out, "\n✗ the clients never met the broken canary\n")
		return false, v2.ID, front, nil
	}
	fmt.Fprintf(out, "\n  the clients' view: the canary served %d requests (%d of them 500s); its first 500 came at %s,\n", canary, bad500, firstBad.Format("15:04:05.000"))
	fmt.Fprintf(out, "  its last answer at %s: judged bad and out of traffic %.1f s after the first bad response\n", lastCanary.Format("15:04:05.000"), lastCanary.Sub(firstBad).Seconds())
	if !rbCreated.IsZero() {
		fmt.Fprintf(out, "  the rollback release was created at %s, %d ms after traffic was back on 1.0\n", rbCreated.Local().Format("15:04:05.000"), rbCreated.Sub(lastCanary).Milliseconds())
	}
	ok = v.State == shipgate.StateRolledBack && !rbCreated.IsZero() && lastCanary.Before(rbCreated)
	if ok {
		fmt.Fprintf(out, "✓ release %d is %s: traffic returned to 1.0 before the rollback release started\n", v2.ID, v.State)
	} else {
		fmt.Fprintf(out, "✗ release %d is %s (rollback release created %v, last canary answer %v)\n", v2.ID, v.State, rbCreated, lastCanary)
	}
	return ok, v2.ID, front, nil
}
