package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/internal/testutil"
)

// crashService is a diamond of jobs whose steps each append one line to a
// file shared by the test; a step run twice shows up as a repeated line.
const crashService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: crash}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - name: prepare
        steps:
          - run: sleep 0.3; echo "prepare" >> "$SHIPGATE_INPUT_LEDGER"
      - name: deploy-a
        needs: [prepare]
        steps:
          - run: sleep 0.2; echo "deploy-a step 1" >> "$SHIPGATE_INPUT_LEDGER"
          - run: sleep 0.2; echo "deploy-a step 2" >> "$SHIPGATE_INPUT_LEDGER"
      - name: deploy-b
        needs: [prepare]
        steps:
          - run: sleep 0.3; echo "deploy-b" >> "$SHIPGATE_INPUT_LEDGER"
      - name: verify
        needs: [deploy-a, deploy-b]
        steps:
          - run: sleep 0.3; echo "verify" >> "$SHIPGATE_INPUT_LEDGER"
`

var crashLines = []string{"prepare", "deploy-a step 1", "deploy-a step 2", "deploy-b", "verify"}

const crashTrials = 20

// TestCrashRecovery kills the server with SIGKILL during a release,
// restarts it, and checks that the release still ends correctly, that no
// step ran twice, and that the audit chain verifies. Each trial kills at a
// random point of the release: as soon as a random number of its steps
// (none to all but the last) have written their ledger lines, while the
// agent reports them and the next ones run. SQLite here;
// TestCrashRecoveryPostgres runs the same trials on PostgreSQL.
func TestCrashRecovery(t *testing.T) {
	runCrashTrials(t, func(t *testing.T) []string { return nil })
}

func TestCrashRecoveryPostgres(t *testing.T) {
	pg := testutil.RequirePostgres(t)
	runCrashTrials(t, func(t *testing.T) []string { return []string{"--database", pg.NewDatabase(t)} })
}

func runCrashTrials(t *testing.T, database func(t *testing.T) []string) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("crash test seed %d", seed)
	passed, midway := 0, 0
	for i := 1; i <= crashTrials; i++ {
		k := crashKill{steps: rng.IntN(len(crashLines))}
		ok := t.Run(fmt.Sprintf("trial-%02d", i), func(t *testing.T) {
			if crashTrial(t, database(t), k) {
				midway++
			}
		})
		if ok {
			passed++
		}
	}
	fmt.Printf("crash trials: %d of %d passed; %d killed the server midway through the release's steps\n", passed, crashTrials, midway)
	if passed != crashTrials {
		t.Fatalf("crash trials: %d of %d failed", crashTrials-passed, crashTrials)
	}
	// A trial that waits for one step or more (four in five) lands midway
	// unless the remaining steps all run in the moment between seeing the
	// ledger line and the kill; a quarter leaves room for a stalled machine
	// and still fails a test whose kills all miss the release.
	if midway < crashTrials/4 {
		t.Fatalf("crash trials: only %d of %d killed the server midway through the release's steps, want at least %d", midway, crashTrials, crashTrials/4)
	}
}

// crashKill is when a trial kills the server: as soon as steps ledger
// lines are written (0: right after the release is created).
type crashKill struct{ steps int }

func (k crashKill) String() string { return fmt.Sprintf("%d steps", k.steps) }

// crashTrial runs one trial and reports whether the kill landed midway:
// after some steps had run and while others were still to run.
func crashTrial(t *testing.T, dbArgs []string, killAfter crashKill) (midway bool) {
	s := startServerWith(t, append([]string{"--no-local-runner"}, dbArgs...), "SHIPGATE_BOOTSTRAP_TOKEN=sgp_crash-test-admin-token")
	s.tokens["admin"] = "sgp_crash-test-admin-token"
	join := strings.TrimSpace(s.ok("admin", "agent", "token", "create"))
	s.startAgent("crash-agent", "role=any", join)
	f := filepath.Join(s.workDir, "crash.yaml")
	os.WriteFile(f, []byte(crashService), 0o644)
	s.ok("admin", "apply", "-f", f)
	os.WriteFile(filepath.Join(s.workDir, "crash.tar"), []byte("crash"), 0o644)
	ledger := filepath.Join(s.workDir, "ledger")
	r := s.create("admin", "crash", "--env", "staging", "--version", "1", "--artifact", "crash.tar", "--input", "ledger="+ledger)

	testutil.WaitFor(t, fmt.Sprintf("%d steps of release %d to run", killAfter.steps, r.ID), func() bool {
		b, _ := os.ReadFile(ledger)
		return strings.Count(string(b), "\n") >= killAfter.steps
	})
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	// Midway: some steps had run and some were still to run.
	before, _ := os.ReadFile(ledger)
	ran := strings.Count(string(before), "\n")
	midway = ran > 0 && ran < len(crashLines)
	s.start()

	out := s.run("admin", "release", "wait", fmt.Sprint(r.ID), "--timeout", "2m")
	if out.code != 0 || !strings.Contains(out.stdout, "succeeded") {
		t.Fatalf("killed after %s: release ended %q (exit %d)", killAfter, out.stdout, out.code)
	}
	b, _ := os.ReadFile(ledger)
	for _, line := range crashLines {
		if n := strings.Count(string(b), line+"\n"); n != 1 {
			t.Errorf("killed after %s: %q ran %d times:\n%s", killAfter, line, n, b)
		}
	}
	if v := s.run("admin", "audit", "verify"); v.code != 0 {
		t.Fatalf("killed after %s: audit verify: %s%s", killAfter, v.stdout, v.stderr)
	}
	return midway
}
