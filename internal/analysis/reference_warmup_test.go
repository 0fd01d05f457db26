package analysis

import "testing"

// TestArgoInitialDelay checks that Argo's initialDelay (JudgeEnv.Warmup)
// ignores the first seconds and starts its measurement intervals after
// them: a canary failing 2% only during a 30 s warm-up is never measured
// failing, and a regression after it is rolled back 180 s after the delay.
func TestArgoInitialDelay(t *testing.T) {
	a := NewArgo(60, JudgeEnv{BaselineMeanLatency: 100, Warmup: 30})
	if a.InitialDelay != 30 {
		t.Fatalf("InitialDelay %d, want the warm-up's 30 s", a.InitialDelay)
	}
	for sec := range 600 {
		errs := 0
		if sec < 30 {
			errs = 50 // all canary requests fail while warming up
		}
		if v := a.Observe(tick(sec, 900, 4, 50, errs)); v.Rollback {
			t.Fatalf("rolled back at %d s for warm-up errors: %s", sec+1, v.Reason)
		}
	}
	a = NewArgo(60, JudgeEnv{BaselineMeanLatency: 100, Warmup: 30})
	rollbackAt := -1
	for sec := range 600 {
		if v := a.Observe(tick(sec, 900, 4, 50, 1)); v.Rollback {
			rollbackAt = sec + 1
			break
		}
	}
	if rollbackAt != 210 {
		t.Errorf("rolled back at %d s, want 210 (30 s delay + three 60 s measurements)", rollbackAt)
	}
}

// TestKayentaBeginAfter checks Kayenta's begin-after: whole minutes (the
// warm-up rounded up, as beginCanaryAnalysisAfterMins is in minutes) whose
// data is left out, with the analysis intervals counted from there.
func TestKayentaBeginAfter(t *testing.T) {
	k := NewKayenta(5, JudgeEnv{Warmup: 30})
	if k.BeginAfter != 60 {
		t.Fatalf("BeginAfter %d s, want 60 (30 s rounded up to a minute)", k.BeginAfter)
	}
	rollbackAt := -1
	for sec := range 1200 {
		errs := 0
		if sec >= 60 {
			errs = 25 // half the canary's requests fail from the second minute
		}
		if v := k.Observe(tick(sec, 900, 4, 50, errs)); v.Rollback {
			rollbackAt = sec + 1
			break
		}
	}
	if rollbackAt != 360 {
		t.Errorf("rolled back at %d s, want 360 (one minute left out, then a 5-minute interval)", rollbackAt)
	}
	// Warm-up errors in the first minute are not counted at all: a canary
	// failing only then is never High.
	k = NewKayenta(5, JudgeEnv{Warmup: 60})
	for sec := range 1200 {
		errs := 0
		if sec < 60 {
			errs = 50
		}
		if v := k.Observe(tick(sec, 900, 4, 50, errs)); v.Rollback {
			t.Fatalf("rolled back at %d s for warm-up errors: %s", sec+1, v.Reason)
		}
	}
	if k := NewKayenta(10, JudgeEnv{}); k.BeginAfter != 0 {
		t.Errorf("no warm-up begins after %d s", k.BeginAfter)
	}
}
