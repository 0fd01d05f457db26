package reconcile_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// sixJobService has six jobs that run side by side.
const sixJobService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  environments: [{name: staging}]
  pipeline:
    jobs:
      - {name: a, steps: [{run: "true"}]}
      - {name: b, steps: [{run: "true"}]}
      - {name: c, steps: [{run: "true"}]}
      - {name: d, steps: [{run: "true"}]}
      - {name: e, steps: [{run: "true"}]}
      - {name: f, steps: [{run: "true"}]}
`

// finishTogether sends reports while another writer holds the store, so
// they queue behind it, and returns each one's answer once it is let go,
// with the number of transactions committed meanwhile (the writer's own
// included).
func (f *dispFixture) finishTogether(reports []finishReport) ([]error, int64) {
	f.t.Helper()
	holding, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- f.db.Update(ctx, func(tx *sqlstore.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	before := f.db.Commits()
	errs := make([]error, len(reports))
	var wg sync.WaitGroup
	for i, r := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.d.Finish(ctx, r.runner, r.key, r.out)
		}()
	}
	for f.d.Finishing() < len(reports) {
		// Every report is in: queued, or in the transaction that waits for
		// the writer. Finishing counts them under its lock, so this loop
		// only spins until the goroutines above have been scheduled.
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		f.t.Fatal(err)
	}
	return errs, f.db.Commits() - before
}

type finishReport struct {
	runner string
	key    shipgate.AttemptKey
	out    shipgate.JobOutcome
}

// Reports that arrive together are written together: at most the first
// goes alone (it was being written when the others came), the rest share
// one transaction, and each is recorded and audited exactly as it would be
// alone. A report in the batch that is refused gets its refusal, and the
// others are still recorded.
func testFinishBatched(t *testing.T, f *dispFixture) {
	f.apply(sixJobService)
	r := f.release("staging", "1")
	seq := f.mark(r.ID)
	keys := map[string]shipgate.AttemptKey{}
	for _, name := range []string{"r0", "r1", "r2", "r3", "r4", "r5"} {
		a := f.claim(runner(name))
		keys[name] = a.Key
	}
	f.expect(r.ID, &seq, "system:job.started system:job.started system:job.started system:job.started system:job.started system:job.started")

	errs, commits := f.finishTogether([]finishReport{{"r0", keys["r0"], ok0}, {"r1", keys["r1"], ok0}, {"r2", keys["r2"], ok0}})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	if commits > 3 {
		t.Errorf("3 reports arriving together took %d transactions besides the writer's, want at most 2", commits-1)
	}
	f.expect(r.ID, &seq, "system:job.finished system:job.finished system:job.finished")

	// One refused report in a batch: it alone is refused.
	errs, _ = f.finishTogether([]finishReport{
		{"r3", keys["r3"], ok0}, {"intruder", keys["r4"], ok0}, {"r4", keys["r4"], ok0}, {"r5", keys["r5"], ok0},
	})
	if errs[0] != nil || code(errs[1]) != shipgate.ECONFLICT || errs[2] != nil || errs[3] != nil {
		t.Fatalf("answers %v, want nil, conflict, nil, nil", errs)
	}
	f.expect(r.ID, &seq, "system:job.finished system:job.finished system:job.finished system:release.succeeded")
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		if j := f.job(r.ID, name); j.State != shipgate.JobSucceeded {
			t.Errorf("job %s is %s, want succeeded", name, j.State)
		}
	}
	if got := f.find(r.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("release %s, want succeeded", got.State)
	}
}

// Claims that arrive together while work is queued are answered by one
// pass, in one transaction, each with its own job in queue order; a claim
// repeated with the same id in the same pass gets the same job.
func testClaimsBatched(t *testing.T, f *dispFixture) {
	f.apply(sixJobService)
	r := f.release("staging", "1")
	seq := f.mark(r.ID)
	holding, release, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- f.db.Update(ctx, func(tx *sqlstore.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	before := f.db.Commits()
	reqs := []shipgate.ClaimRequest{
		{Runner: runner("r0"), ClaimID: "c0"}, {Runner: runner("r1"), ClaimID: "c1"},
		{Runner: runner("r2"), ClaimID: "c2"}, {Runner: runner("r2"), ClaimID: "c2"},
	}
	got := make([]*shipgate.Assignment, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _, errs[i] = f.d.Claim(ctx, req)
		}()
	}
	// Until every claim has looked and joined the queue. The deadline only
	// turns a claim that never joins (each writing alone behind the
	// writer) into a failure rather than a hang.
	for deadline := time.Now().Add(10 * time.Second); f.d.Waiting() < len(reqs); runtime.Gosched() {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d of %d claims joined the queue of waiting claims", f.d.Waiting(), len(reqs))
		}
	}
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if n := f.db.Commits() - before; n > 3 {
		t.Errorf("4 claims arriving together took %d transactions besides the writer's, want at most 2", n-1)
	}
	jobs := map[string]string{}
	for i, a := range got {
		if errs[i] != nil || a == nil {
			t.Fatalf("claim %d: %+v %v", i, a, errs[i])
		}
		if prev, ok := jobs[reqs[i].ClaimID]; ok && prev != a.Key.Job {
			t.Fatalf("claim %s answered with %s and %s", reqs[i].ClaimID, prev, a.Key.Job)
		}
		jobs[reqs[i].ClaimID] = a.Key.Job
	}
	if len(jobs) != 3 || jobs["c0"] == jobs["c1"] || jobs["c1"] == jobs["c2"] || jobs["c0"] == jobs["c2"] {
		t.Fatalf("jobs handed out %v, want three different ones", jobs)
	}
	f.expect(r.ID, &seq, "system:job.started system:job.started system:job.started")
}
