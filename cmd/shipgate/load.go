package main

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// load sends requests to a front address from a few workers until ended,
// and records which version answered each (the router's
// X-Shipgate-Version header) and how. shipgate demo and the canary tests
// use it to see traffic the way clients do.
type load struct {
	url    string
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	served []served
}

// served is one answer the load got.
type served struct {
	at      time.Time
	version string
	status  int // 0: no answer
}

// startLoad starts workers that each send a request every interval.
func startLoad(url string, workers int, every time.Duration) *load {
	l := &load{url: url, stop: make(chan struct{})}
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
				s := served{at: time.Now()}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					s.version, s.status = resp.Header.Get("X-Shipgate-Version"), resp.StatusCode
				}
				l.mu.Lock()
				l.served = append(l.served, s)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// end stops the workers and returns every answer in time order.
func (l *load) end() []served {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	return l.since(time.Time{})
}

// since returns the answers from t on, in time order.
func (l *load) since(t time.Time) []served {
	l.mu.Lock()
	var out []served
	for _, s := range l.served {
		if !s.at.Before(t) {
			out = append(out, s)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}
