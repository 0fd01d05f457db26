package runner_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (e *env) evidence(id int64) []shipgate.Evidence {
	var out []shipgate.Evidence
	e.db.View(ctx, func(tx *sqlstore.Tx) error { out, _ = tx.ListEvidence(ctx, id); return nil })
	return out
}

func TestStepEvidence(t *testing.T) {
	e := newEnv(t, `
      - name: test
        steps:
          - run: |
              printf 'mode: set\na.go:1.1,2.2 9 1\na.go:3.1,4.2 1 0\n' > cover.out
              case "$SHIPGATE_INPUT_CASE" in
                missing) ;;
                failing) printf '<testsuite><testcase name="a"><failure/></testcase></testsuite>' > junit.xml; exit 1 ;;
                escape) ln -s /etc/passwd junit.xml ;;
                *) printf '<testsuite><testcase name="a"/></testsuite>' > junit.xml ;;
              esac
            evidence:
              - {type: coverage, path: cover.out}
              - {type: tests, path: junit.xml}
          - run: echo next step
`)
	t.Run("attached", func(t *testing.T) {
		id := e.release(map[string]string{"case": "ok"}, nil)
		if r := e.wait(id); r.State != shipgate.StateSucceeded {
			t.Fatalf("release %s: %s\n%s", r.State, r.Reason, e.logs(id, "test"))
		}
		ev := e.evidence(id)
		if len(ev) != 2 || ev[0].Summary["line_percent"] != 90.0 || ev[0].AddedBy != "agent/test-runner" || ev[0].Job != "test" || ev[1].Summary["passed"] != 1.0 {
			t.Fatalf("evidence %+v", ev)
		}
		if logs := e.logs(id, "test"); !strings.Contains(logs, "evidence cover.out attached as") || !strings.Contains(logs, "line coverage 90% (go)") {
			t.Errorf("logs:\n%s", logs)
		}
	})
	t.Run("missing after success fails the job", func(t *testing.T) {
		id := e.release(map[string]string{"case": "missing"}, nil)
		r := e.wait(id)
		if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "evidence junit.xml (tests): the step did not write it") {
			t.Fatalf("release %s: %q", r.State, r.Reason)
		}
		if logs := e.logs(id, "test"); strings.Contains(logs, "next step") {
			t.Errorf("the next step ran:\n%s", logs)
		}
	})
	t.Run("a failed step's report is attached", func(t *testing.T) {
		id := e.release(map[string]string{"case": "failing"}, nil)
		r := e.wait(id)
		if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "exited with status 1") {
			t.Fatalf("release %s: %q", r.State, r.Reason)
		}
		ev := e.evidence(id)
		if len(ev) != 2 || ev[1].Summary["failed"] != 1.0 {
			t.Fatalf("evidence %+v", ev)
		}
	})
	t.Run("no way out of the job's directory", func(t *testing.T) {
		id := e.release(map[string]string{"case": "escape"}, nil)
		r := e.wait(id)
		if r.State != shipgate.StateFailed || !strings.Contains(r.Reason, "evidence junit.xml (tests): openat junit.xml: path escapes from parent") {
			t.Fatalf("release %s: %q", r.State, r.Reason)
		}
		for _, ev := range e.evidence(id) {
			if ev.Type == "tests" {
				t.Errorf("stored %+v", ev)
			}
		}
	})
}
