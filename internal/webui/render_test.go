package webui

import (
	"fmt"
	"html/template"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

// Every state a page shows as a badge has a symbol beside its words, so a
// state is never told by colour alone (docs/ui.md): a rolled-back release,
// a rollback that is done and a job that waits once showed an empty symbol.
func TestEveryStateHasASymbol(t *testing.T) {
	var states []any
	for _, s := range shipgate.ReleaseStates {
		states = append(states, s)
	}
	states = append(states,
		shipgate.JobWaiting, shipgate.JobQueued, shipgate.JobRunning, shipgate.JobSucceeded,
		shipgate.JobFailed, shipgate.JobSkipped, shipgate.JobCancelled,
		shipgate.RollbackPending, shipgate.RollbackHeld, shipgate.RollbackCalledOff, shipgate.RollbackFired,
		shipgate.RollbackDone, shipgate.RollbackFailed, shipgate.RollbackUnavailable,
		shipgate.AgentOnline, shipgate.AgentLost, shipgate.AgentDraining,
	)
	badge := funcs["state"].(func(any) template.HTML)
	for _, st := range states {
		got := string(badge(st))
		if strings.Contains(got, `<span aria-hidden="true"></span>`) {
			t.Errorf("state %q has no symbol: %s", fmt.Sprint(st), got)
		}
	}
}
