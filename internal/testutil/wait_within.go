package testutil

import (
	"testing"
	"time"
)

// WaitForWithin is WaitFor with its own limit, for the rare condition
// whose deadline is the point of the test (a lease that must change hands
// within its TTL plus a margin). Choose the limit generously: a loaded
// machine must not fail a test that is right.
func WaitForWithin(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, limit, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}
