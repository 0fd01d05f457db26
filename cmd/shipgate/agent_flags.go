package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/agentflags"
	"github.com/shipgate/shipgate/internal/runner"
)

// agentFlags is the agent's local flags endpoint (--flags-listen): a
// mirror of its environments' flags, served over OFREP on loopback.
type agentFlags struct {
	mirror *agentflags.Mirror
	addr   string
	stop   func()
}

// startAgentFlags opens the mirror kept in the work dir and serves it on
// cfg.FlagsListen at once, before the agent reaches the server: a
// restarted agent serves the flags it knew while the server is down. nil
// when --flags-listen is not given.
func startAgentFlags(cfg AgentConfig, logger *slog.Logger) (*agentFlags, error) {
	if cfg.FlagsListen == "" {
		if len(cfg.FlagsEnvs) > 0 {
			return nil, errors.New("--flags-env needs --flags-listen: the flags are served on the local endpoint")
		}
		return nil, nil
	}
	if err := agentflags.CheckListen(cfg.FlagsListen, cfg.FlagsListenAny); err != nil {
		return nil, err
	}
	m, err := agentflags.NewMirror(filepath.Join(cfg.WorkDir, "flags"), logger)
	if err != nil {
		return nil, err
	}
	for _, env := range cfg.FlagsEnvs {
		if err := m.Watch(env); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.FlagsListen)
	if err != nil {
		return nil, fmt.Errorf("--flags-listen: %w", err)
	}
	local := agentflags.NewLocal(m, logger)
	local.AnyHost = cfg.FlagsListenAny
	srv := &http.Server{Handler: local, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("flags listener ended", "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	logger.Info("serving flags over OFREP", "url", agentflags.BaseURL(ln.Addr().String(), "ENVIRONMENT"))
	return &agentFlags{mirror: m, addr: ln.Addr().String(), stop: func() {
		srv.Close()
		cancel()
		<-done
	}}, nil
}

// connect starts following the environments of the supervised services
// and reading flags from the server as the registered agent. An
// environment of --flags-env outside those the agent's join token allows
// is refused: the server would refuse its flags.
func (f *agentFlags) connect(cfg AgentConfig, services *runner.Services, agent *client.Agent, allowed []string, logger *slog.Logger) error {
	if f == nil {
		return nil
	}
	if len(allowed) > 0 {
		for _, env := range cfg.FlagsEnvs {
			if !slices.Contains(allowed, env) {
				return fmt.Errorf("--flags-env %s: this agent's join token is limited to the environments %s; it cannot read the flags of others", env, strings.Join(allowed, ", "))
			}
		}
	}
	for _, env := range services.Environments() {
		if err := f.mirror.Watch(env); err != nil {
			logger.Warn("cannot serve the flags of a supervised service's environment", "environment", env, "err", err)
		}
	}
	f.mirror.SetFetcher(agent)
	return nil
}

// serviceEnv is the runner's ServiceEnv: nil when flags are off.
func (f *agentFlags) serviceEnv() func(ctx context.Context, service, env string) []string {
	if f == nil {
		return nil
	}
	return func(ctx context.Context, service, env string) []string {
		return f.mirror.ServiceEnv(ctx, f.addr, service, env)
	}
}
