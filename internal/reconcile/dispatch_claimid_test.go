package reconcile_test

import (
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

// Two claims of one runner under one claim id (a retry while the server
// still holds the first request) both wait; a pass that finds no work
// checks both; when work comes, both are answered with the same job, not a
// job each under one id (hostile review of issue 12).
func TestDuplicateClaimIDWaitingGetsOneJob(t *testing.T) {
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			f := newDispFixture(t, engine)
			f.apply(sixJobService)
			req := shipgate.ClaimRequest{Runner: runner("r0"), ClaimID: "same", Wait: 20 * time.Second}
			got := make([]*shipgate.Assignment, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], _, _ = f.d.Claim(ctx, req)
				}()
			}
			testutil.WaitFor(t, "both claims to wait", func() bool { return f.d.Waiting() == 2 })
			before := f.d.Passes()
			f.d.Work.Notify()
			testutil.WaitFor(t, "a pass that finds no work", func() bool { return f.d.Passes() > before })
			f.release("staging", "1")
			f.d.Work.Notify()
			wg.Wait()
			if got[0] == nil || got[1] == nil {
				t.Fatalf("got %+v %+v", got[0], got[1])
			}
			if got[0].Key != got[1].Key {
				t.Errorf("one claim id answered with two jobs: %s and %s", got[0].Key.Job, got[1].Key.Job)
			}
		})
	}
}
