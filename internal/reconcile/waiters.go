package reconcile

import (
	"sync"

	"github.com/shipgate/shipgate"
)

// waitQueue holds claims waiting for work, in arrival order.
type waitQueue struct {
	mu      sync.Mutex
	list    []*waiter
	looping bool
}

type waiter struct {
	req shipgate.ClaimRequest
	// result receives exactly one answer once the waiter leaves the queue
	// through a pass (an assignment, or nil for a claim that gave up).
	result   chan *shipgate.Assignment
	reserved bool // a pass is deciding for it
	gone     bool // its claim gave up while reserved
	// once: the claim does not wait; the first pass answers it, with nil
	// when it found nothing.
	once bool
	// claimChecked: a pass has looked for an assignment already made under
	// the claim's id.
	claimChecked bool
	// passErr, set before a claim that does not wait is answered, is why
	// the pass that answered it failed: the caller hears the error rather
	// than "no work".
	passErr error
}

// add queues a claim and makes sure a loop is running to serve it. A claim
// that does not wait is answered by the next pass whatever it finds.
func (q *waitQueue) add(req shipgate.ClaimRequest, wait bool, loop func()) *waiter {
	w := &waiter{req: req, result: make(chan *shipgate.Assignment, 1), once: !wait}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list = append(q.list, w)
	if !q.looping {
		q.looping = true
		go loop()
	}
	return w
}

// leave takes a claim that gives up out of the queue. It returns false
// when a pass holds it or has already answered it; then the answer is (or
// will be) on w.result and must be read.
func (q *waitQueue) leave(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w.reserved {
		w.gone = true
		return false
	}
	return q.remove(w)
}

// isGone reports whether the claim of a reserved waiter has given up.
func (q *waitQueue) isGone(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return w.gone
}

// remove takes w out of the list and reports whether it was there.
func (q *waitQueue) remove(w *waiter) bool {
	for i, x := range q.list {
		if x == w {
			q.list = append(q.list[:i], q.list[i+1:]...)
			return true
		}
	}
	return false
}

// reserve marks every waiting claim as being decided by a pass.
func (q *waitQueue) reserve() []*waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := make([]*waiter, len(q.list))
	copy(batch, q.list)
	for _, w := range batch {
		w.reserved = true
	}
	return batch
}

// settle answers the claims a pass assigned (and those that gave up while
// it ran) and puts the rest back to waiting.
func (q *waitQueue) settle(batch []*waiter, got []*shipgate.Assignment, passErr error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, w := range batch {
		w.reserved = false
		if got[i] != nil || w.gone || w.once {
			q.remove(w)
			if got[i] == nil && w.once {
				w.passErr = passErr
			}
			w.result <- got[i]
		}
	}
}

// checked records that a pass committed with these claims: each looked
// for an assignment under its id in it.
func (q *waitQueue) checked(batch []*waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range batch {
		w.claimChecked = true
	}
}

// stillWaiting reports whether claims wait; if none do, the loop ends.
func (q *waitQueue) stillWaiting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.list) == 0 {
		q.looping = false
		return false
	}
	return true
}

// len counts the claims waiting.
func (q *waitQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.list)
}
