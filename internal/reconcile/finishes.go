package reconcile

import (
	"context"
	"slices"
	"sync"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// maxFinishBatch bounds how many reports one transaction writes.
const maxFinishBatch = 64

// finishQueue holds job reports waiting to be written. Reports that arrive
// while others are being written are written together, in one
// transaction, and each release they touch is reconciled once at its end
// rather than once per report: with 200 agents finishing jobs, the
// transaction's fixed cost (on PostgreSQL its lock of the audit head, its
// round trips and its commit) and the reconcile of a release of a hundred
// jobs are paid once per batch. A lone report is written at once, as
// before.
type finishQueue struct {
	mu      sync.Mutex
	list    []*finishReq
	looping bool
	pending int // reports not answered yet, queued or being written
}

type finishReq struct {
	runner string
	key    shipgate.AttemptKey
	out    shipgate.JobOutcome
	done   chan error
}

// add queues a report and makes sure a loop is writing reports.
func (q *finishQueue) add(f *finishReq, loop func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list = append(q.list, f)
	q.pending++
	if !q.looping {
		q.looping = true
		go loop()
	}
}

// take removes up to n queued reports; when none are queued it ends the
// loop (in the same critical section, so no report is left unserved).
func (q *finishQueue) take(n int) []*finishReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.list) == 0 {
		q.looping = false
		return nil
	}
	n = min(n, len(q.list))
	batch := slices.Clone(q.list[:n])
	q.list = slices.Delete(q.list, 0, n)
	return batch
}

// answer delivers the outcome of written (or refused) reports.
func (q *finishQueue) answer(batch []*finishReq, err error) {
	q.mu.Lock()
	q.pending -= len(batch)
	q.mu.Unlock()
	for _, f := range batch {
		f.done <- err
	}
}

// Finishing counts the job reports received and not answered yet, for
// monitoring and for tests that need reports to be waiting.
func (d *Dispatcher) Finishing() int {
	d.finishes.mu.Lock()
	defer d.finishes.mu.Unlock()
	return d.finishes.pending
}

// finishLoop writes queued reports, a batch per transaction, until none
// are left.
func (d *Dispatcher) finishLoop() {
	for {
		batch := d.finishes.take(maxFinishBatch)
		if batch == nil {
			return
		}
		d.finishBatch(batch)
	}
}

// finishBatch writes reports in one transaction: each is decided on what
// the ones before it left, then every release they touched is reconciled.
// When any of them is refused (an attempt the runner does not hold) or
// the transaction fails, nothing of the batch is kept and each report is
// written again in its own transaction, so each gets its own answer.
func (d *Dispatcher) finishBatch(batch []*finishReq) {
	// The transaction serves several callers: none of their contexts may
	// cut it short for the others.
	ctx := context.Background()
	ended := false
	err := d.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		ended = false
		var touched []int64
		for _, f := range batch {
			reconcile, err := d.finishIn(ctx, tx, f.runner, f.key, f.out)
			if err != nil {
				return err
			}
			if reconcile && !slices.Contains(touched, f.key.ReleaseID) {
				touched = append(touched, f.key.ReleaseID)
			}
		}
		for _, id := range touched {
			if _, _, err := Release(ctx, tx, id); err != nil {
				return err
			}
			r, err := tx.FindRelease(ctx, id)
			if err != nil {
				return err
			}
			ended = ended || r.State.Final()
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, f := range batch {
			d.finishBatch([]*finishReq{f})
		}
		return
	}
	if err == nil {
		d.Work.Notify()
		// These releases were reconciled in the transaction; a release
		// that ended may let the next one of its environment start.
		if ended && d.Reconciler != nil {
			d.Reconciler.Kick()
		}
	}
	d.finishes.answer(batch, err)
}
