package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/internal/bench"
)

func (m *Main) benchRouterCommand() *cobra.Command {
	cfg := bench.RouterConfig{}
	var targets string
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Measure the agent's traffic router against a direct backend, httputil.ReverseProxy and nginx",
		Long: `Starts a small HTTP backend and one process per proxy in front of it (the
shipgate router with one stable backend, and at weight 50 with two;
httputil.ReverseProxy with http.DefaultTransport, with the router's tuned
transport, and with that transport and a BufferPool, its best standard-library
setup; nginx with worker_processes 1 and upstream keepalive, when installed),
then, target after target and round after round:

1. latency at a fixed request rate, from an open-loop generator: requests are
   sent on a constant schedule over keep-alive connections and each latency is
   counted from the request's scheduled send time, so a stalled proxy cannot
   hide its queue (no coordinated omission);
2. throughput with wrk, and the proxy process's CPU time (utime+stime from
   /proc) during the run: requests per proxy CPU-second is the throughput per
   core, fair even when wrk, backend and proxy share few cores.

Prints the median over rounds per target. Needs Linux and wrk (apt-get install
wrk); nginx (apt-get install nginx) is optional.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			if cfg.Rounds < 1 || cfg.Rate < 1 || cfg.Conns < 1 || cfg.Duration <= 0 || cfg.WrkDuration < time.Second {
				return fmt.Errorf("--rounds, --rate, --conns and --duration must be positive and --wrk-duration at least 1s")
			}
			if cfg.Targets, err = bench.PickRouterTargets(targets); err != nil {
				return err
			}
			rep, err := bench.RunRouter(cmd.Context(), m.Stderr, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return m.printJSON(rep)
			}
			return bench.PrintRouter(m.Stdout, rep)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Rounds, "rounds", 2, "rounds over all targets; the median per target is printed")
	f.IntVar(&cfg.Rate, "rate", 1000, "requests per second of the latency run")
	f.IntVar(&cfg.Conns, "conns", 16, "keep-alive connections of the latency run")
	f.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "unrecorded start of each latency run")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "recorded length of each latency run")
	f.IntVar(&cfg.WrkThreads, "wrk-threads", 1, "wrk -t")
	f.IntVar(&cfg.WrkConns, "wrk-conns", 64, "wrk -c")
	f.DurationVar(&cfg.WrkDuration, "wrk-duration", 10*time.Second, "wrk -d")
	f.StringVar(&targets, "targets", "", "comma-separated targets (default all: "+strings.Join(bench.RouterTargets(), ",")+")")
	f.StringVar(&cfg.WrkPath, "wrk", "wrk", "wrk binary")
	f.StringVar(&cfg.NginxPath, "nginx", "nginx", "nginx binary; the nginx target is skipped when it is not found")
	f.StringVar(&cfg.CPUProfileDir, "cpuprofile-dir", "", "write a CPU profile of each Go proxy process to DIR/TARGET.pprof")
	m.addOutputFlag(cmd)
	cmd.AddCommand(m.benchRouterBackendCommand(), m.benchRouterProxyCommand())
	return cmd
}

// benchRouterBackendCommand is the backend child: a tiny HTTP server.
func (m *Main) benchRouterBackendCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:    "backend",
		Short:  "Backend process of bench router (prints its address, exits when stdin closes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench.ServeBackend(cmd.Context(), m.Stdout, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	return cmd
}

// benchRouterProxyCommand is a proxy child: the shipgate router or one of
// the httputil.ReverseProxy baselines.
func (m *Main) benchRouterProxyCommand() *cobra.Command {
	var cfg bench.ProxyConfig
	cmd := &cobra.Command{
		Use:    "proxy",
		Short:  "Proxy process of bench router (prints its address, exits when stdin closes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench.ServeProxy(cmd.Context(), m.Stdout, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Kind, "kind", "shipgate", "shipgate, reverseproxy (http.DefaultTransport), reverseproxy-tuned (the router's transport) or reverseproxy-pool (that and a BufferPool)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address to listen on")
	f.StringVar(&cfg.Backend, "backend", "", "backend address host:port (the stable one for shipgate)")
	f.StringVar(&cfg.Canary, "canary", "", "shipgate only: canary backend address")
	f.IntVar(&cfg.Weight, "weight", 0, "shipgate only: canary weight in percent")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	cmd.MarkFlagRequired("backend")
	return cmd
}
