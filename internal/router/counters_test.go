package router

import (
	"math"
	"testing"
	"time"
)

func TestBucketLayout(t *testing.T) {
	if NumBuckets != 210 {
		t.Fatalf("NumBuckets = %d, want 210", NumBuckets)
	}
	if got := BucketUpper(0); got != 1024 {
		t.Errorf("BucketUpper(0) = %v, want 1.024µs", got)
	}
	if got := BucketUpper(NumBuckets - 2); got != 1<<36 {
		t.Errorf("last finite bound = %v, want 2^36ns", got)
	}
	if got := BucketUpper(NumBuckets - 1); got != math.MaxInt64 {
		t.Errorf("overflow bound = %v", got)
	}
	for i := 1; i < NumBuckets; i++ {
		lo, hi := BucketUpper(i-1), BucketUpper(i)
		if hi <= lo {
			t.Fatalf("bucket %d: bounds not increasing: %v..%v", i, lo, hi)
		}
		if i < NumBuckets-1 && float64(hi-lo)/float64(lo) > 0.125+1e-9 {
			t.Fatalf("bucket %d wider than 12.5%%: %v..%v", i, lo, hi)
		}
		// Every bucket's lower bound, and the value just below its upper
		// bound, land in it.
		if got := bucketOf(lo); got != i {
			t.Fatalf("bucketOf(%v) = %d, want %d", lo, got, i)
		}
		if i < NumBuckets-1 {
			if got := bucketOf(hi - 1); got != i {
				t.Fatalf("bucketOf(%v) = %d, want %d", hi-1, got, i)
			}
		}
	}
	for _, d := range []time.Duration{-1, 0, 1, 1023} {
		if got := bucketOf(d); got != 0 {
			t.Errorf("bucketOf(%v) = %d, want 0", d, got)
		}
	}
	if got := bucketOf(time.Hour); got != NumBuckets-1 {
		t.Errorf("bucketOf(1h) = %d, want overflow", got)
	}
}

// counted returns Counters as a meter would after recording ds.
func counted(ds ...time.Duration) Counters {
	var m meter
	for _, d := range ds {
		m.record(d, false)
	}
	return m.snapshot()
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for range 90 {
		ds = append(ds, time.Millisecond)
	}
	for range 9 {
		ds = append(ds, 10*time.Millisecond)
	}
	ds = append(ds, time.Second)
	c := counted(ds...)
	up := func(d time.Duration) time.Duration { return BucketUpper(bucketOf(d)) }
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, up(time.Millisecond)},
		{0.5, up(time.Millisecond)},
		{0.9, up(time.Millisecond)},
		{0.91, up(10 * time.Millisecond)},
		{0.99, up(10 * time.Millisecond)},
		{0.999, up(time.Second)},
		{1, up(time.Second)},
		{2, up(time.Second)},
	}
	for _, tt := range tests {
		if got := c.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	// The bound over-estimates by less than one bucket width.
	if got := c.Quantile(0.5); got <= time.Millisecond || got > time.Millisecond*9/8 {
		t.Errorf("p50 %v not just above 1ms", got)
	}
	if got := (Counters{}).Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile = %v, want 0", got)
	}
}

func TestSlowerThan(t *testing.T) {
	c := counted(time.Millisecond, 2*time.Millisecond, 50*time.Millisecond, 2*time.Second)
	tests := []struct {
		d    time.Duration
		want uint64
	}{
		{0, 4},
		{time.Millisecond / 2, 4},
		// 1ms's bucket starts below 1ms, so 1ms itself is not certainly slow.
		{time.Millisecond, 3},
		{10 * time.Millisecond, 2},
		{time.Second, 1},
		{time.Hour, 0},
	}
	for _, tt := range tests {
		if got := c.SlowerThan(tt.d); got != tt.want {
			t.Errorf("SlowerThan(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestMeanAndSub(t *testing.T) {
	var m meter
	m.record(time.Millisecond, false)
	m.record(3*time.Millisecond, true)
	prev := m.snapshot()
	if got := prev.Mean(); got != 2*time.Millisecond {
		t.Errorf("Mean = %v, want 2ms", got)
	}
	m.record(10*time.Millisecond, true)
	d := m.snapshot().Sub(prev)
	if d.Requests != 1 || d.Errors != 1 || d.LatencySum != 10*time.Millisecond {
		t.Errorf("Sub = %d req %d err %v sum", d.Requests, d.Errors, d.LatencySum)
	}
	if got := d.Quantile(0.5); got != BucketUpper(bucketOf(10*time.Millisecond)) {
		t.Errorf("window p50 = %v", got)
	}
	if (Counters{}).Mean() != 0 {
		t.Error("empty Mean not 0")
	}
	// A forgotten and restarted backend: the window is the new counts.
	restarted := counted(time.Millisecond)
	if got := restarted.Sub(prev); got != restarted {
		t.Errorf("Sub across a restart = %+v", got.Requests)
	}
}
