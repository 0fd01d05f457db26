package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls waitFor in its own goroutine, as Fatalf ends it, and returns
// the failure message, empty when the wait ended well.
func run(limit time.Duration, what string, check func() error) string {
	f := &fatalTB{}
	done := make(chan struct{})
	go func() { defer close(done); waitFor(f, limit, what, check) }()
	<-done
	return f.msg
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	WaitFor(t, "the third call", func() bool { return calls.Add(1) == 3 })
	if n := calls.Load(); n != 3 {
		t.Fatalf("condition checked %d times, want 3", n)
	}
}

func TestWaitForFailsNamingWhatAndHowLong(t *testing.T) {
	msg := run(30*time.Millisecond, "the moon", func() error { return errNotYet })
	if !strings.HasPrefix(msg, "timed out after ") || !strings.HasSuffix(msg, " waiting for the moon") {
		t.Fatalf("failure %q", msg)
	}
	msg = run(30*time.Millisecond, "the count", func() error { return errors.New("2 of 3") })
	if !strings.HasSuffix(msg, " waiting for the count: 2 of 3") {
		t.Fatalf("failure %q", msg)
	}
	if msg := run(time.Minute, "nothing", func() error { return nil }); msg != "" {
		t.Fatalf("a condition that holds failed: %q", msg)
	}
}
