package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/runner"
	"github.com/shipgate/shipgate/internal/tracing"
	"github.com/spf13/cobra"
)

// AgentConfig is everything `shipgate agent` is configured with.
type AgentConfig struct {
	Name          string
	Labels        map[string]string
	WorkDir       string
	Slots         int
	ShutdownGrace time.Duration
	// MetricsListen serves the router's metrics on /metrics; off when empty.
	MetricsListen string
	// StopServicesOnExit stops supervised services when the agent exits.
	StopServicesOnExit bool
	// ClientCert and ClientKey are the certificate the agent presents to
	// a server that requires one (serve --tls-client-ca).
	ClientCert, ClientKey string
	// FlagsListen serves the flags of the agent's environments over OFREP
	// at this loopback address (agent_flags.go); off when empty.
	// FlagsListenAny allows an address other hosts reach; FlagsEnvs are
	// environments to serve besides those of the supervised services.
	FlagsListen    string
	FlagsListenAny bool
	FlagsEnvs      []string
}

func (m *Main) agentCommand() *cobra.Command {
	cfg := AgentConfig{}
	var labels []string
	cmd := &cobra.Command{
		Use:   "agent --server URL --token AGENT_TOKEN --labels k=v,…",
		Short: "Run jobs on this host for a shipgate server; also: list, drain and agent tokens",
		Long: `Run an agent: it registers with the server using an agent join token
(shipgate agent token create), then claims jobs whose runs_on labels it has,
runs them, and streams their logs. The join token is --token, else
$SHIPGATE_AGENT_TOKEN, else $SHIPGATE_TOKEN: a shell that exports a
person's SHIPGATE_TOKEN and the agent's SHIPGATE_AGENT_TOKEN joins with the
latter. A scoped token admits only labels that agree with its
scope and only jobs of its environments; labels starting with "shipgate."
are the server's and always refused.

Registration returns the agent's own secret, which it keeps in --work-dir
(agent-secret.json, mode 0600). While the server counts the agent as live,
only a process presenting that secret can register its name again (a
restart); anyone else waits until the agent shows as lost.

On SIGTERM it takes no new jobs and lets running ones finish (up to
--shutdown-grace); a second signal stops at once. A restarted agent settles
the attempts it held from its journal in --work-dir and never starts one
twice.

With --flags-listen 127.0.0.1:PORT it serves the feature flags of its
environments over OFREP on that loopback address, following every change
on the server at once and keeping the last known flags in --work-dir for
when the server is unreachable; the services it starts get OFREP_ENDPOINT
and SHIPGATE_FLAG_<KEY> (docs/flags.md, "Flags on agents").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			return m.runAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "agent name (default: the host name)")
	f.StringSliceVar(&labels, "labels", nil, "labels jobs select this agent by, k=v,… (names: ASCII letters, digits, . _ / -)")
	f.StringVar(&cfg.WorkDir, "work-dir", "./shipgate-agent", "directory for workspaces, the artifact cache and the attempt journal")
	f.IntVar(&cfg.Slots, "slots", 2, "jobs run at once")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 5*time.Minute, "on SIGTERM, how long running jobs may take to finish")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve the traffic router's per-version counters (Prometheus format) on /metrics at this address, e.g. 127.0.0.1:9450; off by default")
	f.BoolVar(&cfg.StopServicesOnExit, "stop-services-on-exit", false, "stop the supervised services when the agent exits (by default they keep running and the next start adopts them)")
	f.StringVar(&cfg.ClientCert, "client-cert", "", "client certificate (PEM) for a server that requires one of agents (default $SHIPGATE_CLIENT_CERT); read again when it changes")
	f.StringVar(&cfg.ClientKey, "client-key", "", "the private key of --client-cert (PEM; default $SHIPGATE_CLIENT_KEY)")
	f.StringVar(&cfg.FlagsListen, "flags-listen", "", "serve the feature flags of this agent's environments over OFREP at this loopback address, e.g. 127.0.0.1:8790, and give supervised services OFREP_ENDPOINT; off by default (docs/flags.md, \"Flags on agents\")")
	f.BoolVar(&cfg.FlagsListenAny, "flags-listen-any", false, "allow --flags-listen on an address other hosts can reach (the endpoint asks for no key)")
	f.StringSliceVar(&cfg.FlagsEnvs, "flags-env", nil, "environments whose flags to serve besides those of the supervised services, e1,e2,…")
	cmd.AddCommand(m.agentListCommand(), m.agentDrainCommand(), m.agentTokenCommand())
	return cmd
}

// agentToken is the token an agent joins with: --token, else
// $SHIPGATE_AGENT_TOKEN, else $SHIPGATE_TOKEN. The agent's own variable
// comes before the person's, which the quickstart exports in the same
// shell.
func (m *Main) agentToken() string {
	for _, t := range []string{m.token, m.Getenv("SHIPGATE_AGENT_TOKEN"), m.Getenv("SHIPGATE_TOKEN")} {
		if t != "" {
			return t
		}
	}
	return ""
}

func (m *Main) runAgent(ctx context.Context, cfg AgentConfig) error {
	logger := slog.New(slog.NewTextHandler(m.Stderr, nil))
	c := m.client()
	c.Token = m.agentToken()
	if cfg.ClientCert == "" && cfg.ClientKey == "" {
		cfg.ClientCert, cfg.ClientKey = m.Getenv("SHIPGATE_CLIENT_CERT"), m.Getenv("SHIPGATE_CLIENT_KEY")
	}
	if cfg.ClientCert != "" || cfg.ClientKey != "" {
		tc, err := clientTLS(m.caCert, cfg.ClientCert, cfg.ClientKey, logger)
		if err != nil {
			return err
		}
		c.UseTLS(tc)
	}
	if !strings.HasPrefix(c.Token, shipgate.AgentTokenPrefix) {
		return fmt.Errorf("an agent needs an agent token (%s…) from `shipgate agent token create`, via --token or $SHIPGATE_AGENT_TOKEN", shipgate.AgentTokenPrefix)
	}
	host, _ := os.Hostname()
	flagsLocal, err := startAgentFlags(cfg, logger)
	if err != nil {
		return err
	}
	if flagsLocal != nil {
		defer flagsLocal.stop()
	}
	if cfg.Name == "" {
		cfg.Name = strings.ToLower(strings.SplitN(host, ".", 2)[0])
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return err
	}
	instance, err := runner.InstanceID(cfg.WorkDir)
	if err != nil {
		return fmt.Errorf("agent work dir: %w", err)
	}
	// The secret of this agent's last registration proves, to a server
	// that still counts it as live, that this restart is the same agent.
	current, err := runner.SavedSecret(cfg.WorkDir, c.BaseURL, cfg.Name)
	if err != nil {
		logger.Warn("cannot use the saved agent secret; registering without it (a live agent of this name must then be lost first)", "err", err)
	}
	// Register, waiting for the server if it is not up yet, or for a
	// previous process with this name to be gone.
	var reg *client.AgentRegistration
	for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
		var err error
		reg, err = c.RegisterAgent(ctx, client.RegisterAgentRequest{Name: cfg.Name, Labels: cfg.Labels, Version: version, Hostname: host, InstanceID: instance, CurrentSecret: current})
		if err == nil {
			break
		}
		var se *shipgate.Error
		if errors.As(err, &se) && se.Code != shipgate.ECONFLICT {
			return err // refused: wrong token, bad name or labels
		}
		var te *client.TransportError
		if errors.As(err, &te) {
			return err // HTTP against HTTPS, an untrusted or a refused certificate
		}
		logger.Warn("cannot register yet; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
	if err := runner.SaveSecret(cfg.WorkDir, c.BaseURL, cfg.Name, reg.Secret); err != nil {
		return fmt.Errorf("keep the agent secret in --work-dir: %w", err)
	}
	fmt.Fprintf(m.Stdout, "agent %s registered with %s (labels: %s; environments: %s)\n", reg.Agent.Name, client.RedactURL(c.BaseURL), shipgate.FormatLabels(reg.Agent.Labels), envList(reg.Agent.Envs))

	services, err := runner.OpenServices(filepath.Join(cfg.WorkDir, "services"), logger)
	if err != nil {
		return err
	}
	defer closeServices(services, cfg.StopServicesOnExit, logger)
	if err := flagsLocal.connect(cfg, services, c.AsAgent(reg.Secret), reg.Agent.Envs, logger); err != nil {
		return err
	}
	metricsLn, err := listenMetrics(cfg.MetricsListen)
	if err != nil {
		return err
	}
	defer serveMetrics(metricsLn, services, logger)()
	// With OTEL_* set, the agent makes a span of each step under the job's
	// span; without, steps still get the job's TRACEPARENT.
	traces, err := tracing.Setup(ctx, m.Getenv, "shipgate-agent")
	if err != nil {
		return err
	}
	defer (&serverTracing{provider: traces}).shutdown(logger)

	claimCtx, stopClaiming := context.WithCancel(context.WithoutCancel(ctx))
	hardCtx, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	var refused error
	r := &runner.Runner{
		Services:   services,
		Coord:      c.AsAgent(reg.Secret),
		Info:       reg.Agent.Info(),
		WorkDir:    filepath.Clean(cfg.WorkDir),
		Slots:      cfg.Slots,
		Logger:     logger,
		ServiceEnv: flagsLocal.serviceEnv(),
		Tracer:     traces.Tracer(),
		Unauthorized: func(err error) {
			refused = err
			stopClaiming()
		},
	}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(claimCtx, hardCtx) }()
	select {
	case <-done:
		if refused != nil {
			return fmt.Errorf("the server no longer accepts this agent: %w", refused)
		}
		return nil
	case <-ctx.Done():
	}
	logger.Info("stopping: no new jobs; running ones may finish. Send the signal again to stop at once")
	second := make(chan os.Signal, 1)
	signal.Notify(second, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(second)
	stopClaiming()
	select {
	case <-done:
	case <-second:
		logger.Warn("second signal: stopping running jobs")
		stopHard()
		<-done
	case <-time.After(cfg.ShutdownGrace):
		logger.Warn("jobs still running after the grace period; stopping them")
		stopHard()
		<-done
	}
	return nil
}

// listenMetrics binds --metrics-listen, if one is given (nil otherwise),
// so that a port in use stops a start before it creates anything.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	return ln, nil
}

// serveMetrics serves the router's metrics on ln (from listenMetrics; nil:
// none) until stop is called.
func serveMetrics(ln net.Listener, services *runner.Services, logger *slog.Logger) (stop func()) {
	if ln == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", services.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics listener ended", "err", err)
		}
	}()
	logger.Info("serving router metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }
}

// closeServices leaves the supervised services running for the next start
// to adopt, or stops them.
// Leaving them is the default, so say it: whoever stops the process
// should not have to find out from a port still answering.
func closeServices(s *runner.Services, stop bool, logger *slog.Logger) {
	if !stop {
		if n := len(s.Sup.List()); n > 0 {
			what := fmt.Sprintf("%d supervised service processes keep running", n)
			if n == 1 {
				what = "1 supervised service process keeps running"
			}
			logger.Info(what+" after exit; the next start on this directory adopts them; --stop-services-on-exit stops them on exit", "processes", n)
		}
		s.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StopAll(ctx); err != nil {
		logger.Warn("stopping services", "err", err)
	}
}

// envList renders the environments an agent or join token is limited to.
func envList(envs []string) string {
	if len(envs) == 0 {
		return "all"
	}
	return strings.Join(envs, ",")
}

func (m *Main) agentListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List agents with their state and when they were last seen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			agents, err := m.client().Agents(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(agents, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATE\tLABELS\tENVS\tHOST\tVERSION\tLAST SEEN")
				for _, a := range agents {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s ago\n", a.Name, a.State, shipgate.FormatLabels(a.Labels), envList(a.Envs), a.Hostname, a.Version, time.Since(a.LastSeen).Round(time.Second))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) agentDrainCommand() *cobra.Command {
	var undo bool
	cmd := &cobra.Command{
		Use:   "drain NAME",
		Short: "Let an agent finish its jobs and take no new ones (--undo takes it back)",
		Args:  oneArg("an agent name", "agent list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := m.client().DrainAgent(cmd.Context(), args[0], !undo)
			if err != nil {
				return err
			}
			return m.render(a, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "agent %s is %s\n", a.Name, a.State)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&undo, "undo", false, "hand the agent jobs again")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) agentTokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage agent join tokens (admin)"}
	var name, expiresIn string
	var scope, envs []string
	create := &cobra.Command{
		Use:   "create [--name N] [--scope k=v,…] [--env E,…] [--expires-in D]",
		Short: "Create an agent join token and print it; it is shown only this once",
		Long: `Create an agent join token and print it; it is shown only this once.

--scope k=v,… bounds what its agents may claim to be: an agent joining with
the token must have each scoped label with exactly that value (its other
labels are free). --env E,… limits its agents to jobs of those environments
(default: all). --expires-in D (e.g. 720h or 30d) stops it registering new
agents after D; agents that joined before keep working until the token is
revoked. Labels starting with "shipgate." are reserved for the server and
refused for every agent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := client.CreateAgentTokenRequest{Name: name}
			var err error
			if req.Scope, err = parseLabels(scope); err != nil {
				return fmt.Errorf("--scope: %w", err)
			}
			for _, e := range envs {
				if e = strings.TrimSpace(e); e != "" {
					req.Envs = append(req.Envs, e)
				}
			}
			if expiresIn != "" {
				if req.ExpiresIn, err = shipgate.ParseDuration(expiresIn); err != nil || req.ExpiresIn <= 0 {
					return fmt.Errorf("--expires-in %q: want a positive duration like 720h or 30d", expiresIn)
				}
			}
			t, err := m.client().CreateScopedAgentToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			return m.render(t, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, t.Secret)
				return err
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	create.Flags().StringSliceVar(&scope, "scope", nil, "labels its agents must have with exactly these values, k=v,…")
	create.Flags().StringSliceVar(&envs, "env", nil, "environments whose jobs its agents may take, E,… (default: all)")
	create.Flags().StringVar(&expiresIn, "expires-in", "", "stop registering new agents after this long, e.g. 720h or 30d (default: never)")
	m.addOutputFlag(create)
	list := &cobra.Command{
		Use:   "list",
		Short: "List agent join tokens with their scope, environments and expiry (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := m.client().AgentTokens(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(ts, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tSCOPE\tENVS\tEXPIRES\tCREATED\tBY\tREVOKED")
				for _, t := range ts {
					fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, shipgate.FormatLabels(t.Scope), envList(t.Envs),
						fmtTimePtr(t.ExpiresAt), fmtTime(t.CreatedAt), t.CreatedBy, fmtTimePtr(t.RevokedAt))
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(list)
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an agent join token; agents that joined with it are refused",
		Args:  oneArg("a join token ID", "agent token list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a token id", args[0])
			}
			if err := m.client().RevokeAgentToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "agent token %d revoked\n", id)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
