package testutil

import (
	"errors"
	"testing"
	"time"
)

// WaitLimit is how long WaitFor and WaitForNil wait before failing the
// test: generous, so a loaded machine does not fail a test that is right,
// and only ever spent by a test that is already failing.
const WaitLimit = time.Minute

// WaitFor waits until cond holds, checking it at once and then after
// pauses that grow from a millisecond to 20ms: a condition that holds soon
// is seen soon, and an expensive one (a CLI process, a query) is not run
// back to back. After WaitLimit it fails the test, naming what it waited
// for. Tests wait on conditions this way, never on a fixed sleep.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitForNil(t, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// errNotYet is WaitFor's condition that does not hold yet; it says nothing
// more, so WaitForNil leaves it out of its failure.
var errNotYet = errors.New("not yet")

// WaitForNil waits, as WaitFor does, until check returns nil; the failure
// quotes the last error, so a condition can say how far from holding it
// was (a state, a count) or why it could not be checked.
func WaitForNil(t testing.TB, what string, check func() error) {
	t.Helper()
	waitFor(t, WaitLimit, what, check)
}

// waitFor is WaitForNil with the limit given, so its own test can fail it
// quickly.
func waitFor(t testing.TB, limit time.Duration, what string, check func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	pause := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			waited := time.Since(start).Round(time.Millisecond)
			if err == errNotYet {
				t.Fatalf("timed out after %s waiting for %s", waited, what)
			}
			t.Fatalf("timed out after %s waiting for %s: %v", waited, what, err)
		}
		<-time.After(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}
