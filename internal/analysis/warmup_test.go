package analysis

import "testing"

// countJudge counts the ticks it observes.
type countJudge struct{ seen []int }

func (c *countJudge) Name() string { return "count" }
func (c *countJudge) Observe(t *Tick) Verdict {
	c.seen = append(c.seen, t.Second)
	return Verdict{}
}

// The first seconds of a canary, and of each weight, are not judged.
func TestWarmupSkipsSeconds(t *testing.T) {
	c := &countJudge{}
	w := NewWarmup(c, 3).(*Warmup)
	for s := 10; s < 20; s++ {
		if s == 15 {
			w.WeightChanged(s)
		}
		w.Observe(&Tick{Second: s})
	}
	want := []int{13, 14, 18, 19}
	if len(c.seen) != len(want) {
		t.Fatalf("observed %v, want %v", c.seen, want)
	}
	for i := range want {
		if c.seen[i] != want[i] {
			t.Fatalf("observed %v, want %v", c.seen, want)
		}
	}
	if NewWarmup(c, 0) != Judge(c) {
		t.Fatal("no warm-up should return the judge itself")
	}
}
