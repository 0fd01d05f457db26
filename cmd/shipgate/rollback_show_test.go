package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// release show says why a rollback release moves all traffic at once when
// its environment has a rollback_strategy that did not fit the pipeline
// it restores.
func TestReleaseShowRollbackStrategyNote(t *testing.T) {
	r := &shipgate.Release{ID: 4, State: shipgate.StateQueued}
	r.Service, r.Environment, r.Version, r.Kind = "web", "production", "1.0", shipgate.ReleaseKindRollback
	r.RollbackOf, r.RestoresRelease, r.TriggeredBy = 3, 1, shipgate.TriggeredByUser
	r.Pipeline = shipgate.Pipeline{Jobs: []shipgate.Job{{Name: "web", Service: &shipgate.ServiceProcess{Exec: []string{"./app"}, Listen: "127.0.0.1:19101"}}}}
	r.RollbackStrategyNote = `rollback_strategy does not fit release 1's pipeline: preview "127.0.0.1:19102" is also the listen address of job "api"; all traffic at once`
	var out bytes.Buffer
	if err := printRelease(&out, &client.ReleaseView{Release: r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  rollout:   web: all traffic at once, no analysis, no pause for promote\n  rollout:   rollback_strategy does not fit release 1's pipeline: ") {
		t.Fatalf("release show:\n%s", out.String())
	}
}
