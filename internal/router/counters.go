package router

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency histogram is log-linear over nanoseconds: one underflow
// bucket below 2^minExp ns (~1 µs), 2^subBits sub-buckets for every power
// of two up to 2^maxExp ns (~68.7 s), and one overflow bucket. A bucket
// index is bits.Len64 plus the next subBits bits of the duration, so
// recording never calls math.Log, and any bucket is at most 12.5% wide.
const (
	minExp  = 10
	maxExp  = 36
	subBits = 3
	subs    = 1 << subBits
)

// NumBuckets is the size of the fixed latency histogram. It is a constant so
// that Counters is a plain comparable value the runner can copy, subtract
// and keep per tick without allocating.
const NumBuckets = 1 + (maxExp-minExp)*subs + 1

// Counters is what the router counted for one backend. It is a value, not a
// live view, so a caller can keep the one from the previous tick and Sub it
// from the current one to get a window.
type Counters struct {
	// Requests counts every request proxied to the backend, answered or not.
	Requests uint64
	// Errors counts 5xx responses and transport errors (which the router
	// answers with 502); requests the client abandoned are not errors.
	Errors uint64
	// LatencySum is the total of the requests' latencies, each measured from
	// receiving the request to the end of copying the response body, so a
	// slow stream counts as slow.
	LatencySum time.Duration
	// Buckets is the latency histogram; bucket i holds latencies in
	// [BucketUpper(i-1), BucketUpper(i)).
	Buckets [NumBuckets]uint64
}

// BucketUpper is the exclusive upper bound of histogram bucket i, exported
// so that consumers can turn bucket counts into latencies the same way
// Quantile does. The last bucket has no bound and reports math.MaxInt64.
func BucketUpper(i int) time.Duration {
	switch {
	case i < 0:
		return 0
	case i == 0:
		return 1 << minExp
	case i >= NumBuckets-1:
		return math.MaxInt64
	}
	j := i - 1
	e := minExp + j/subs
	sub := j % subs
	return time.Duration(subs+sub+1) << (e - subBits)
}

// bucketLower is the inclusive lower bound of bucket i.
func bucketLower(i int) time.Duration {
	if i <= 0 {
		return 0
	}
	return BucketUpper(i - 1)
}

// bucketOf is the histogram bucket of a latency.
func bucketOf(d time.Duration) int {
	if d < 1<<minExp {
		return 0
	}
	n := uint64(d)
	e := bits.Len64(n) - 1
	if e >= maxExp {
		return NumBuckets - 1
	}
	sub := int(n>>(e-subBits)) & (subs - 1)
	return 1 + (e-minExp)*subs + sub
}

// Sub returns the counts between prev and c, the window an analysis tick
// judges. If prev is larger than c the backend's counters were forgotten and
// restarted in between, and c itself is the best window there is.
func (c Counters) Sub(prev Counters) Counters {
	if prev.Requests > c.Requests {
		return c
	}
	d := Counters{
		Requests:   c.Requests - prev.Requests,
		Errors:     sat(c.Errors, prev.Errors),
		LatencySum: max(c.LatencySum-prev.LatencySum, 0),
	}
	for i := range d.Buckets {
		d.Buckets[i] = sat(c.Buckets[i], prev.Buckets[i])
	}
	return d
}

func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// an over-estimate by at most one bucket width, which is the safe side for
// a latency gate. It is 0 when nothing was counted.
func (c Counters) Quantile(q float64) time.Duration {
	var total uint64
	for _, n := range c.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var cum uint64
	for i, n := range c.Buckets {
		cum += n
		if cum >= rank {
			return BucketUpper(i)
		}
	}
	return BucketUpper(NumBuckets - 1)
}

// SlowerThan counts the requests certainly at least d slow: those in
// buckets whose lower bound is >= d. The judge counts them as bad events
// without ever counting a fast request as slow.
func (c Counters) SlowerThan(d time.Duration) uint64 {
	var n uint64
	for i := NumBuckets - 1; i >= 0 && bucketLower(i) >= d; i-- {
		n += c.Buckets[i]
	}
	return n
}

// Mean is the mean latency, exact rather than bucketed because LatencySum is
// kept alongside the histogram; 0 when nothing was counted.
func (c Counters) Mean() time.Duration {
	if c.Requests == 0 {
		return 0
	}
	return c.LatencySum / time.Duration(c.Requests)
}

// meter is the live, concurrently updated form of Counters.
type meter struct {
	requests atomic.Uint64
	errors   atomic.Uint64
	latency  atomic.Int64
	buckets  [NumBuckets]atomic.Uint64
	// pinned counts requests pinned to the backend by header or cookie,
	// apart from everything else: they are not a random share of traffic,
	// so the judges, which compare shares, must not see them.
	pinned atomic.Uint64
	// warned is when the router last logged a failure of this backend
	// (unix nanoseconds): a dead backend under load must not write a log
	// line per request.
	warned atomic.Int64
}

// warnNow reports whether a failure of the backend may be logged now: at
// most once a second.
func (m *meter) warnNow(now time.Time) bool {
	last := m.warned.Load()
	return now.UnixNano()-last >= int64(time.Second) && m.warned.CompareAndSwap(last, now.UnixNano())
}

// record accounts one request: three or four atomic adds.
func (m *meter) record(d time.Duration, failed bool) {
	m.requests.Add(1)
	if failed {
		m.errors.Add(1)
	}
	m.latency.Add(int64(d))
	m.buckets[bucketOf(d)].Add(1)
}

// snapshot reads the meter. The fields are read one by one while requests
// keep landing, so they may disagree by the few requests in between.
func (m *meter) snapshot() Counters {
	c := Counters{
		Requests:   m.requests.Load(),
		Errors:     m.errors.Load(),
		LatencySum: time.Duration(m.latency.Load()),
	}
	for i := range c.Buckets {
		c.Buckets[i] = m.buckets[i].Load()
	}
	return c
}
