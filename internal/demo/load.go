package demo

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Load sends requests to a front address from a few workers until ended,
// and records which version answered each (the router's
// X-Shipgate-Version header) and how. shipgate demo and the canary tests
// use it to see traffic the way clients do.
type Load struct {
	url    string
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	served []Served
}

// Served is one answer the load got.
type Served struct {
	At      time.Time
	Version string
	Status  int // 0: no answer
}

// StartLoad starts workers that each send a request every interval.
func StartLoad(url string, workers int, every time.Duration) *Load {
	l := &Load{url: url, stop: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-t.C:
				}
				resp, err := c.Get(l.url)
				s := Served{At: time.Now()}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					s.Version, s.Status = resp.Header.Get("X-Shipgate-Version"), resp.StatusCode
				}
				l.mu.Lock()
				l.served = append(l.served, s)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// End stops the workers and returns every answer in time order.
func (l *Load) End() []Served {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	return l.Since(time.Time{})
}

// Since returns the answers from t on, in time order.
func (l *Load) Since(t time.Time) []Served {
	l.mu.Lock()
	var out []Served
	for _, s := range l.served {
		if !s.At.Before(t) {
			out = append(out, s)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
