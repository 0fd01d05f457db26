package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/testutil"
)

// rssKiB reads a process's resident set size.
func rssKiB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTicks reads a process's user and system CPU time, in clock ticks
// (1/100 s on Linux).
func cpuTicks(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

// BenchmarkAgents measures the server (a separate process, the built
// binary) with 200 simulated agents long-polling it over HTTP:
//   - jobs/s: a backlog of 2,000 queued jobs dispatched to the agents and
//     finished, each claim answered by a finish at once (no process runs);
//   - claim-to-start p50/p99: with every agent idle and polling, the time
//     from sending a release create to an agent holding its job;
//   - server CPU per job: the server's CPU time over the backlog divided
//     by the jobs, steadier than jobs/s on a shared machine;
//   - server memory per connected agent: the server's RSS with the 200
//     agents long-polling, less its RSS before they connected.
func BenchmarkAgents(b *testing.B) {
	for _, engine := range testutil.Engines {
		b.Run(engine, func(b *testing.B) {
			var dbArgs []string
			if engine == "postgres" {
				dbArgs = []string{"--database", testutil.RequirePostgres(b).NewDatabase(b)}
			}
			for b.Loop() {
				benchAgents(b, dbArgs)
			}
		})
	}
}

const benchAgentCount = 200

func benchAgents(b *testing.B, dbArgs []string) {
	args := append([]string{"--no-local-runner"}, dbArgs...)
	if addr := os.Getenv("SHIPGATE_BENCH_PPROF"); addr != "" {
		args = append(args, "--pprof", addr) // to profile the server while it runs
	}
	s := startServerWith(b, args, "SHIPGATE_BOOTSTRAP_TOKEN=sgp_bench-admin-token-0001")
	s.tokens["admin"] = "sgp_bench-admin-token-0001"
	ctx := context.Background()
	admin := client.New(s.url, s.tokens["admin"])
	// 20 services × 100 parallel jobs: 2,000 jobs queued at once.
	var svc strings.Builder
	svc.WriteString("apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: NAME}\nspec:\n  environments: [{name: e}]\n  pipeline:\n    jobs:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&svc, "      - {name: j%03d, steps: [{run: 'true'}]}\n", i)
	}
	art := filepath.Join(s.workDir, "a.tar")
	os.WriteFile(art, []byte("a"), 0o644)
	for i := 0; i < 21; i++ {
		if _, err := admin.Apply(ctx, "s.yaml", []byte(strings.Replace(svc.String(), "NAME", fmt.Sprintf("svc-%d", i), 1))); err != nil {
			b.Fatal(err)
		}
	}
	tok, err := admin.CreateAgentToken(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	before := rssKiB(s.cmd.Process.Pid)

	// 200 agents, each long-polling in a loop and finishing at once.
	type claimed struct {
		key shipgate.AttemptKey
		at  time.Time
	}
	claims := make(chan claimed, 4096)
	finished := make(chan shipgate.AttemptKey, 4096)
	stop, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < benchAgentCount; i++ {
		reg, err := client.New(s.url, tok.Secret).RegisterAgent(ctx, client.RegisterAgentRequest{Name: fmt.Sprintf("sim-%03d", i), Labels: map[string]string{}})
		if err != nil {
			b.Fatal(err)
		}
		a := client.NewAgent(s.url, reg.Secret)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; stop.Err() == nil; n++ {
				asg, ok, err := a.Claim(stop, shipgate.ClaimRequest{ClaimID: fmt.Sprintf("%d", n), Wait: 20 * time.Second})
				if err != nil || !ok {
					continue
				}
				claims <- claimed{asg.Key, time.Now()}
				a.Finish(ctx, "", asg.Key, shipgate.JobOutcome{Succeeded: true})
				finished <- asg.Key
			}
		}()
	}
	// Let every agent get into its long poll, then measure memory.
	waitForAgents := time.Now().Add(30 * time.Second)
	for {
		agents, _ := admin.Agents(ctx)
		if len(agents) == benchAgentCount || time.Now().After(waitForAgents) {
			break
		}
	}
	time.Sleep(2 * time.Second) // the polls are in flight; nothing to wait on from outside
	during := rssKiB(s.cmd.Process.Pid)

	// Throughput: a backlog of 2,000 jobs.
	start, cpu0 := time.Now(), cpuTicks(s.cmd.Process.Pid)
	for i := 0; i < 20; i++ {
		if _, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: fmt.Sprintf("svc-%d", i), Environment: "e", Version: "1", Artifact: art}); err != nil {
			b.Fatal(err)
		}
	}
	for n := 0; n < 2000; n++ {
		<-finished
	}
	elapsed := time.Since(start)
	cpu := cpuTicks(s.cmd.Process.Pid) - cpu0
	for len(claims) > 0 {
		<-claims
	}

	// Latency: one job at a time, every agent idle.
	one := strings.Replace(svc.String(), "NAME", "svc-20", 1)
	one = one[:strings.Index(one, "      - {name: j001")]
	admin.Apply(ctx, "s.yaml", []byte(one))
	var lat []time.Duration
	for i := 0; i < 100; i++ {
		t0 := time.Now()
		if _, err := admin.CreateRelease(ctx, client.CreateReleaseRequest{Service: "svc-20", Environment: "e", Version: fmt.Sprint(i), Artifact: art}); err != nil {
			b.Fatal(err)
		}
		c := <-claims
		lat = append(lat, c.at.Sub(t0))
		<-finished // the next release queues behind this one until it has finished

	}
	cancel()
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(2000/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu)*10000/2000, "server-cpu-µs/job")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-claim-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-claim-ms")
	b.ReportMetric(float64(during-before)/benchAgentCount, "KiB-RSS/agent")
	b.ReportMetric(float64(before), "KiB-RSS-idle")
}
