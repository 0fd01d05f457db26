package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/demo"
	"github.com/shipgate/shipgate/internal/flags"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// mitigatedCanaryService is the demo app moved by a canary whose blocking
// sequential analysis judges half the traffic, with flags new-checkout
// and exp-2 … exp-N, and a rollback policy (check target rollout, a 2 s
// delay) whose mitigation flips mitigate to "off".
func mitigatedCanaryService(front, mitigate string, extra int) string {
	svc := demo.AppService("shop", binary, front, "{ role: web }", "5m", `canary:
  steps:
    - set_weight: 50
    - analysis:
        sequential: { duration: 60s }`)
	var fl strings.Builder
	fl.WriteString("  flags:\n")
	for _, k := range append([]string{"new-checkout"}, expFlags(extra)...) {
		fmt.Fprintf(&fl, "    - key: %s\n      type: boolean\n      variants: { \"on\": true, \"off\": false }\n      default_variant: \"on\"\n      safe_variant: \"off\"\n", k)
	}
	svc = strings.Replace(svc, "spec:\n", "spec:\n"+fl.String(), 1)
	return strings.Replace(svc, "rollback: { enabled: true, check_target: rollout, delay_seconds: 0, mode: last_successful }",
		`rollback: { enabled: true, check_target: rollout, delay_seconds: 2, mode: last_successful, mitigations: [{flag: `+mitigate+`, variant: "off"}] }`, 1)
}

func expFlags(n int) []string {
	var out []string
	for i := 2; i <= n; i++ {
		out = append(out, "exp-"+strconv.Itoa(i))
	}
	return out
}

// flagWatch polls the server's store for what a flag serves (the flag's
// live definition, evaluated as the server evaluates it) and notes when
// it first serves want. It reads the SQLite file the server writes: the
// flag read API is another part of issue 15.
type flagWatch struct {
	mu   sync.Mutex
	seen time.Time
	stop chan struct{}
	done chan struct{}
}

func watchFlag(t *testing.T, db *sqlstore.DB, key, want string) *flagWatch {
	w := &flagWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var st *shipgate.FlagState
			err := db.View(t.Context(), func(tx *sqlstore.Tx) error {
				var err error
				st, err = tx.FindFlag(t.Context(), "shop", "production", key)
				return err
			})
			if err == nil {
				if f, err := flags.Compile(st.Flag); err == nil && flags.Evaluate(f, map[string]any{"targetingKey": "user-1"}).Variant == want {
					w.mu.Lock()
					w.seen = time.Now()
					w.mu.Unlock()
					return
				}
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *flagWatch) served() time.Time {
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// watchTimeline polls the API's release view (through the proxy that
// checks every exchange against openapi.json) for an event of action and
// returns when it first saw it (zero if stopped first).
func watchTimeline(t *testing.T, c *client.Client, id int64, action string, stop <-chan struct{}) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := c.Release(t.Context(), id); err == nil && slices.ContainsFunc(v.Timeline, func(e shipgate.AuditEvent) bool { return e.Action == action }) {
				out <- time.Now()
				return
			}
			select {
			case <-stop:
				out <- time.Time{}
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// timelineEvent is an event of release show -o json's timeline.
type timelineEvent struct {
	Seq     int64          `json:"seq"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Details map[string]any `json:"details"`
}

// Issue 15, "Done when": end to end with the built binary, a canary whose
// analysis fails flips its declared mitigation flag within 2 s of the
// abort (measured and logged; docs/benchmarks.md records the figures),
// then the rollback release follows its delay; both are on the release's
// timeline, and release show says what flipped. SHIPGATE_MITIGATION_RUNS
// (default 1) repeats the broken canary to measure several flips, each
// with a flag of its own.
func TestMitigationFlipsOnCanaryAbortE2E(t *testing.T) {
	runs := 1
	if n, err := strconv.Atoi(os.Getenv("SHIPGATE_MITIGATION_RUNS")); err == nil && n > 1 {
		runs = n
	}
	front := freeAddr(t)
	f := newCanaryFixtureWith(t, front, mitigatedCanaryService(front, "new-checkout", runs))
	s := f.s
	db, err := sqlstore.Open(t.Context(), filepath.Join(s.dir, "data", "shipgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	v1 := f.release("1.0")
	s.ok("admin", "release", "wait", fmt.Sprint(v1))
	l := demo.StartLoad(f.front, 4, 10*time.Millisecond)
	defer l.End()

	var toFlip, toServed, toAPI, toRollback []time.Duration
	api := client.New(s.url, s.admin)
	for run := 1; run <= runs; run++ {
		key := "new-checkout"
		if run > 1 {
			key = "exp-" + strconv.Itoa(run)
			file := filepath.Join(s.workDir, "shop.yaml")
			os.WriteFile(file, []byte(mitigatedCanaryService(front, key, runs)), 0o644)
			s.ok("admin", "apply", "-f", file)
		}
		w := watchFlag(t, db, key, "off")
		v := s.create("admin", "shop", "--env", "production", "--version", "3.0", "--artifact", "shop-3.0.conf", "--flag", key).ID
		apiSeen := watchTimeline(t, api, v, shipgate.ActionReleaseMitigated, w.stop)
		var got struct {
			State    string          `json:"state"`
			Flags    []string        `json:"flags"`
			Timeline []timelineEvent `json:"timeline"`
			Rollback *struct {
				State           string `json:"state"`
				RollbackRelease int64  `json:"rollback_release"`
			} `json:"rollback"`
		}
		testutil.WaitFor(t, fmt.Sprintf("release %d (run %d) to be rolled back", v, run), func() bool {
			s.jsonOut(&got, "admin", "release", "show", fmt.Sprint(v))
			return got.State == "rolled_back"
		})
		close(w.stop)
		served, viaAPI := w.served(), <-apiSeen
		if !slices.Equal(got.Flags, []string{key}) {
			t.Errorf("the release's declared flags: %v", got.Flags)
		}
		idx := map[string]int{}
		for i, e := range got.Timeline {
			if _, ok := idx[e.Action]; !ok {
				idx[e.Action] = i
			}
		}
		for _, a := range []string{"rollout.aborted", shipgate.ActionReleaseMitigated, "release.failed", "rollback.pending", "rollback.fired", "release.rolled_back"} {
			if _, ok := idx[a]; !ok {
				t.Fatalf("run %d: the timeline lacks %s: %+v", run, a, got.Timeline)
			}
		}
		if !(idx["rollout.aborted"] < idx[shipgate.ActionReleaseMitigated] && idx[shipgate.ActionReleaseMitigated] < idx["rollback.fired"]) {
			t.Fatalf("run %d: want abort, then flip, then the rollback: %+v", run, got.Timeline)
		}
		mit := got.Timeline[idx[shipgate.ActionReleaseMitigated]]
		if sum, _ := mit.Details["summary"].(string); sum != key+" → off" {
			t.Fatalf("run %d: release.mitigated says %q", run, sum)
		}
		if why, _ := mit.Details["reason"].(string); !strings.Contains(why, "canary analysis aborted the rollout in job rollout") {
			t.Errorf("run %d: the flip's reason: %q", run, why)
		}
		if served.IsZero() {
			t.Fatalf("run %d: flag %s never served off", run, key)
		}
		aborted := got.Timeline[idx["rollout.aborted"]].At
		toFlip = append(toFlip, mit.At.Sub(aborted))
		toServed = append(toServed, served.Sub(aborted))
		toRollback = append(toRollback, got.Timeline[idx["rollback.fired"]].At.Sub(aborted))
		if viaAPI.IsZero() {
			t.Fatalf("run %d: the API never showed the flip", run)
		}
		toAPI = append(toAPI, viaAPI.Sub(aborted))
		t.Logf("run %d: abort → flip recorded %s, → flag observably served off %s, → flip seen through the API %s, → rollback fired %s",
			run, toFlip[run-1], toServed[run-1].Round(time.Millisecond), toAPI[run-1].Round(time.Millisecond), toRollback[run-1].Round(time.Millisecond))
		if got.Rollback == nil || got.Rollback.RollbackRelease == 0 {
			t.Fatalf("run %d: no rollback release: %+v", run, got.Rollback)
		}
		if rb := s.show(got.Rollback.RollbackRelease); rb.State != "succeeded" {
			t.Fatalf("run %d: rollback release ended %s", run, rb.State)
		}
		// The flag stays flipped after the rollback.
		testutil.View(t, db, func(tx *sqlstore.Tx) error {
			st, err := tx.FindFlag(t.Context(), "shop", "production", key)
			if err != nil {
				return err
			}
			if !st.Flag.Disabled || st.Flag.Served() != "off" || st.UpdatedBy != "system" {
				t.Fatalf("run %d: %s after the rollback: %+v", run, key, st)
			}
			return nil
		})
		if w := s.run("admin", "release", "wait", fmt.Sprint(v)); w.code != 1 || !strings.Contains(w.stdout, "\nflags flipped: "+key+" → off\n") {
			t.Errorf("run %d: release wait: exit %d, stdout %q", run, w.code, w.stdout)
		}
		show := s.ok("admin", "release", "show", fmt.Sprint(v))
		for _, want := range []string{
			"flags:     " + key + " (introduced by this release)",
			"mitigates: " + key + " → off (if it fails)",
		} {
			if !strings.Contains(show, want) {
				t.Errorf("run %d: release show lacks %q:\n%s", run, want, show)
			}
		}
		if !slices.ContainsFunc(strings.Split(show, "\n"), func(line string) bool {
			return strings.Contains(line, "release.mitigated ") &&
				strings.Contains(line, "flags flipped: "+key+" → off — because its canary analysis aborted the rollout in job rollout: ")
		}) {
			t.Errorf("run %d: release show's timeline does not say what flipped:\n%s", run, show)
		}
	}
	t.Logf("abort → flag served off over %d runs: min %s, median %s, max %s", runs, stat(toServed, 0), stat(toServed, 1), stat(toServed, 2))
	t.Logf("abort → flip seen through the API over %d runs: min %s, median %s, max %s", runs, stat(toAPI, 0), stat(toAPI, 1), stat(toAPI, 2))
	t.Logf("abort → rollback fired over %d runs: min %s, median %s, max %s", runs, stat(toRollback, 0), stat(toRollback, 1), stat(toRollback, 2))
	if out := s.ok("admin", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatal(out)
	}
}

// stat is the min (0), median (1) or max (2) of ds, to the millisecond.
func stat(ds []time.Duration, which int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	switch which {
	case 0:
		return s[0].Round(time.Millisecond)
	case 1:
		return s[len(s)/2].Round(time.Millisecond)
	}
	return s[len(s)-1].Round(time.Millisecond)
}

// release create --flag: a flag the service has in the environment is
// recorded (part of the digest) and shown; an unknown flag, a duplicate or
// more than 32 are refused with a clear message, and nothing is created.
func TestReleaseDeclaresFlagsE2E(t *testing.T) {
	s := startServer(t)
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(strings.Replace(e2eService, "spec:\n", `spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "off"
      safe_variant: "off"
    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: plain
      safe_variant: plain
`, 1)), 0o644)
	s.ok("admin", "apply", "-f", f, "--allow-unknown-groups")
	os.WriteFile(filepath.Join(s.workDir, "app.tar"), []byte("app"), 0o644)
	base := []string{"release", "create", "shop", "--env", "staging", "--version", "1.0", "--artifact", "app.tar"}

	s.fails(`service shop has no flag "nope" in environment staging (it has banner, new-checkout)`, "admin", append(base, "--flag", "new-checkout", "--flag", "nope")...)
	s.fails(`flag "banner" is declared twice`, "admin", append(base, "--flag", "banner", "--flag", "banner")...)
	many := slices.Clone(base)
	for i := 0; i <= shipgate.MaxReleaseFlags; i++ {
		many = append(many, "--flag", "f"+strconv.Itoa(i))
	}
	s.fails("a release declares at most 32 flags, not 33", "admin", many...)
	var list []releaseJSON
	s.jsonOut(&list, "admin", "release", "list")
	if len(list) != 0 {
		t.Fatalf("a refused release was created: %+v", list)
	}

	plain := s.create("admin", append(base[2:], "--version", "0.9")...)
	r := s.create("admin", append(base[2:], "--flag", "new-checkout", "--flag", "banner")...)
	var got struct {
		Flags    []string `json:"flags"`
		Digest   string   `json:"digest"`
		Timeline []struct {
			Action  string         `json:"action"`
			Details map[string]any `json:"details"`
		} `json:"timeline"`
	}
	s.jsonOut(&got, "admin", "release", "show", fmt.Sprint(r.ID))
	if !slices.Equal(got.Flags, []string{"new-checkout", "banner"}) {
		t.Fatalf("flags of the release: %v", got.Flags)
	}
	if fs, _ := got.Timeline[0].Details["flags"].([]any); got.Timeline[0].Action != "release.created" || len(fs) != 2 {
		t.Errorf("release.created does not name the flags: %+v", got.Timeline[0])
	}
	var p struct {
		Flags []string `json:"flags"`
	}
	s.jsonOut(&p, "admin", "release", "show", fmt.Sprint(plain.ID))
	if p.Flags != nil {
		t.Errorf("a release created without --flag declares %v", p.Flags)
	}
	if show := s.ok("admin", "release", "show", fmt.Sprint(r.ID)); !strings.Contains(show, "flags:     new-checkout, banner (introduced by this release)") {
		t.Errorf("release show does not list the flags:\n%s", show)
	}
}

// "Turn off everything this release turned on" is one command: flag kill
// --release kills every flag the release declared, at once, audited with
// the reason, on the release's timeline; flags of the service the release
// did not declare are left alone.
func TestFlagKillReleaseE2E(t *testing.T) {
	s := startServer(t)
	f := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(f, []byte(strings.Replace(e2eService, "spec:\n", `spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
    - key: banner
      type: string
      variants: { plain: "hi", fancy: "hello!" }
      default_variant: fancy
      safe_variant: plain
    - key: search-v2
      type: boolean
      variants: { "on": true, "off": false }
      default_variant: "on"
      safe_variant: "off"
`, 1)), 0o644)
	s.ok("admin", "apply", "-f", f, "--allow-unknown-groups")
	os.WriteFile(filepath.Join(s.workDir, "app.tar"), []byte("app"), 0o644)
	r := s.create("admin", "shop", "--env", "staging", "--version", "1.0", "--artifact", "app.tar", "--flag", "new-checkout", "--flag", "banner")

	s.fails("reason", "admin", "flag", "kill", "--release", fmt.Sprint(r.ID))
	out := s.ok("admin", "flag", "kill", "--release", fmt.Sprint(r.ID), "--reason", "INC-7 errors after 1.0")
	for _, want := range []string{"new-checkout", "banner"} {
		if !strings.Contains(out, want) {
			t.Fatalf("kill --release output lacks %s:\n%s", want, out)
		}
	}
	state := func(key string) (bool, string) {
		var v struct {
			Flag struct {
				Flag struct {
					Disabled bool `json:"disabled"`
				} `json:"flag"`
				UpdatedBy string `json:"updated_by"`
			} `json:"flag"`
		}
		s.jsonOut(&v, "admin", "flag", "show", "shop", key, "--env", "staging")
		return v.Flag.Flag.Disabled, v.Flag.UpdatedBy
	}
	for _, k := range []string{"new-checkout", "banner"} {
		if killed, by := state(k); !killed || by != "admin" {
			t.Errorf("%s not killed by the release kill (killed %v, by %q)", k, killed, by)
		}
	}
	if killed, _ := state("search-v2"); killed {
		t.Error("search-v2, which the release did not declare, was killed")
	}
	var got struct {
		Timeline []struct {
			Action  string         `json:"action"`
			Actor   string         `json:"actor"`
			Details map[string]any `json:"details"`
		} `json:"timeline"`
	}
	s.jsonOut(&got, "admin", "release", "show", fmt.Sprint(r.ID))
	found := false
	for _, e := range got.Timeline {
		if e.Action == "release.flags_killed" {
			found = true
			if e.Actor != "admin" || e.Details["reason"] != "INC-7 errors after 1.0" {
				t.Errorf("release.flags_killed: %+v", e)
			}
		}
	}
	if !found {
		t.Errorf("the release's timeline lacks release.flags_killed: %+v", got.Timeline)
	}
	var changes []struct {
		Key       string `json:"key"`
		Op        string `json:"op"`
		Reason    string `json:"reason"`
		ReleaseID int64  `json:"release_id"`
	}
	kills := func() int {
		s.jsonOut(&changes, "admin", "flag", "changes", "--service", "shop", "--env", "staging")
		n := 0
		for _, c := range changes {
			if c.Op == "kill" {
				n++
				if c.Reason != "INC-7 errors after 1.0" || c.ReleaseID != r.ID {
					t.Errorf("kill change: %+v", c)
				}
			}
		}
		return n
	}
	if kills := kills(); kills != 2 {
		t.Errorf("want 2 kill changes, got %d: %+v", kills, changes)
	}
	// Again: nothing left to turn off, said plainly, nothing changes.
	again := s.run("admin", "flag", "kill", "--release", fmt.Sprint(r.ID), "--reason", "again")
	if !strings.Contains(again.stdout+again.stderr, "already") {
		t.Errorf("second kill --release (exit %d):\n%s%s", again.code, again.stdout, again.stderr)
	}
	if n := kills(); n != 2 {
		t.Errorf("a second kill --release changed flags: %d kills", n)
	}
}
