package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// latencyRun is what the open-loop generator recorded, latencies sorted.
type latencyRun struct {
	lat, lag     []time.Duration
	sent, errors int
}

// loadConn is one keep-alive connection of the generator. A request goes
// out at its scheduled time if the connection is idle, else right after the
// response before it; either way its latency counts from the schedule.
type loadConn struct {
	addr       string
	recordFrom time.Time
	wg         *sync.WaitGroup

	mu       sync.Mutex
	conn     net.Conn
	busy     bool
	dead     bool
	closing  bool
	current  time.Time   // scheduled time of the request in flight
	pending  []time.Time // scheduled, not yet written
	lat, lag []time.Duration
	errors   int
}

var loadRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: shipgate-bench\r\n\r\n")

// send writes the request scheduled at sched; the caller holds c.mu.
func (c *loadConn) send(sched time.Time) {
	c.busy, c.current = true, sched
	if !sched.Before(c.recordFrom) {
		c.lag = append(c.lag, time.Since(sched))
	}
	if _, err := c.conn.Write(loadRequest); err != nil {
		c.conn.Close() // the reader fails and counts it
	}
}

func (c *loadConn) dispatch(sched time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.dead:
		c.errors++
	case c.busy:
		c.wg.Add(1)
		c.pending = append(c.pending, sched)
	default:
		c.wg.Add(1)
		c.send(sched)
	}
}

// read reads responses in order. When the server closes the connection
// (nginx does after keepalive_requests, 1000), it dials again and goes on
// with the requests still pending; only the request in flight on a broken
// connection counts as an error.
func (c *loadConn) read() {
	br := bufio.NewReaderSize(c.conn, 16<<10)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done := time.Now()
		c.mu.Lock()
		if err == nil {
			if resp.StatusCode != http.StatusOK {
				c.errors++
			} else if !c.current.Before(c.recordFrom) {
				c.lat = append(c.lat, done.Sub(c.current))
			}
		} else if c.busy {
			c.errors++
		}
		if c.busy {
			c.busy = false
			c.wg.Done()
		}
		if err != nil || resp.Close {
			c.conn.Close()
			var derr error = net.ErrClosed
			if !c.closing {
				c.conn, derr = net.DialTimeout("tcp", c.addr, 5*time.Second)
			}
			if derr != nil {
				c.dead = true
				c.errors += len(c.pending)
				for range c.pending {
					c.wg.Done()
				}
				c.pending = nil
				c.mu.Unlock()
				return
			}
			br.Reset(c.conn)
		}
		if len(c.pending) > 0 {
			next := c.pending[0]
			c.pending = c.pending[1:]
			c.send(next)
		}
		c.mu.Unlock()
	}
}

// close ends the connection for good.
func (c *loadConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	c.conn.Close()
}

// openLoop sends rate requests per second to addr on a fixed schedule, over
// conns connections taken in turn, and records the latency of those
// scheduled after the warm-up. The schedule is kept by one OS thread
// sleeping in nanosleep: the Go runtime's timers wake up to 1 ms late on
// Linux, which would swamp what is measured.
func openLoop(ctx context.Context, addr string, rate, conns int, warmup, dur time.Duration) (*latencyRun, error) {
	var wg sync.WaitGroup
	cs := make([]*loadConn, conns)
	for i := range cs {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			for _, c := range cs[:i] {
				c.conn.Close()
			}
			return nil, err
		}
		cs[i] = &loadConn{conn: conn, addr: addr, wg: &wg}
	}
	interval := time.Second / time.Duration(rate)
	n := int((warmup + dur) / interval)
	start := time.Now().Add(20 * time.Millisecond)
	for _, c := range cs {
		c.recordFrom = start.Add(warmup)
		go c.read()
	}

	paced := make(chan struct{})
	go func() {
		defer close(paced)
		// Never unlocked: the thread, its timer slack lowered to 1 ns,
		// ends with this goroutine.
		runtime.LockOSThread()
		syscall.RawSyscall(syscall.SYS_PRCTL, 29 /* PR_SET_TIMERSLACK */, 1, 0)
		for i := 0; i < n; i++ {
			sched := start.Add(time.Duration(i) * interval)
			if d := time.Until(sched); d > 0 {
				ts := syscall.NsecToTimespec(int64(d))
				for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
				}
			}
			if i%1000 == 0 && ctx.Err() != nil {
				return
			}
			cs[i%conns].dispatch(sched)
		}
	}()
	<-paced

	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	for _, c := range cs {
		c.close()
	}
	<-drained
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	run := &latencyRun{sent: n}
	for _, c := range cs {
		c.mu.Lock()
		run.lat = append(run.lat, c.lat...)
		run.lag = append(run.lag, c.lag...)
		run.errors += c.errors
		c.mu.Unlock()
	}
	slices.Sort(run.lat)
	slices.Sort(run.lag)
	if len(run.lat) == 0 {
		return nil, fmt.Errorf("no successful request to %s (%d errors)", addr, run.errors)
	}
	return run, nil
}
