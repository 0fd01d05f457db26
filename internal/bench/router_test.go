package bench

import (
	"slices"
	"testing"
)

func TestPickRouterTargets(t *testing.T) {
	all, err := PickRouterTargets("")
	if err != nil || !slices.Equal(all, RouterTargets()) {
		t.Fatalf("empty list: %v, %v", all, err)
	}
	// Always with direct, first, and in the default order.
	got, err := PickRouterTargets("nginx, shipgate")
	if want := []string{"direct", "shipgate", "nginx"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if _, err := PickRouterTargets("haproxy"); err == nil {
		t.Fatal("an unknown target was accepted")
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 1s test @ http://127.0.0.1:1234/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   120.00us   30.00us   1.00ms   90.00%
  Latency Distribution
     50%  110.00us
     75%  130.00us
     90%  150.00us
     99%  300.00us
  50000 requests in 1.00s, 6.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  50000.00
Transfer/sec:      6.00MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 50000 || r.requests != 50000 || r.errors != 3 || r.p50Ms != 0.11 {
		t.Fatalf("got %+v", r)
	}
}
