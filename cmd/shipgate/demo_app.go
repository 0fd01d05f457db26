package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// DemoAppConfig is what the demo HTTP service runs with.
type DemoAppConfig struct {
	Listen       string
	Version      string
	FailRate     float64
	BrokenHealth bool
	// ErrorRate is the share of requests to / answered 500 (a bad
	// release that is healthy by its own account).
	ErrorRate float64
	// Latency is added to every answer of /.
	Latency time.Duration
	// Config, if set, reads the version and rates from a demo artifact.
	Config string
}

func (m *Main) demoAppCommand() *cobra.Command {
	var cfg DemoAppConfig
	cmd := &cobra.Command{
		Use:   "demo-app --listen ADDR --version V [--fail-rate R] [--broken-health]",
		Short: "A tiny HTTP service for shipgate demo: / says its version, /healthz says whether it is healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return m.runDemoApp(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8099", "address to listen on")
	f.StringVar(&cfg.Version, "version", "1.0", "version to report")
	f.Float64Var(&cfg.FailRate, "fail-rate", 0, "share of /healthz requests that fail, 0–1")
	f.BoolVar(&cfg.BrokenHealth, "broken-health", false, "make /healthz always fail (a bad release)")
	f.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of / requests answered 500, 0–1")
	f.DurationVar(&cfg.Latency, "latency", 0, "delay added to every answer of /")
	f.StringVar(&cfg.Config, "config", "", "read version, fail_rate, broken_health, error_rate and latency from this demo artifact (key=value lines)")
	restart := &cobra.Command{
		Use:    "restart --dir DIR --port PORT --config FILE",
		Short:  "Replace the demo app running from DIR with the version FILE describes, and wait until it serves",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _ := cmd.Flags().GetString("dir")
			port, _ := cmd.Flags().GetInt("port")
			conf, _ := cmd.Flags().GetString("config")
			return m.restartDemoApp(cmd.Context(), dir, port, conf)
		},
	}
	restart.Flags().String("dir", "", "directory holding the running app's pid file")
	restart.Flags().Int("port", 0, "port the app serves on")
	restart.Flags().String("config", "", "the release artifact: lines of key=value (version, fail_rate, broken_health)")
	cmd.AddCommand(restart)
	return cmd
}

func (m *Main) runDemoApp(ctx context.Context, cfg DemoAppConfig) error {
	if cfg.Config != "" {
		file, err := readDemoConfig(cfg.Config)
		if err != nil {
			return err
		}
		file.Listen = cfg.Listen
		cfg = file
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Latency > 0 {
			time.Sleep(cfg.Latency) // the demo's simulated work
		}
		if cfg.ErrorRate > 0 && rand.Float64() < cfg.ErrorRate {
			http.Error(w, fmt.Sprintf("demo-app %s failed this request", cfg.Version), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello from demo-app %s\n", cfg.Version)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if cfg.BrokenHealth || rand.Float64() < cfg.FailRate {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"status": "failing", "version": cfg.Version})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"status": "ok", "version": cfg.Version})
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	fmt.Fprintf(m.Stdout, "demo-app %s listening on http://%s\n", cfg.Version, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readDemoConfig reads a demo artifact: key=value lines.
func readDemoConfig(path string) (DemoAppConfig, error) {
	cfg := DemoAppConfig{}
	f, err := os.Open(path)
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "version":
			cfg.Version = v
		case "fail_rate":
			cfg.FailRate, _ = strconv.ParseFloat(v, 64)
		case "broken_health":
			cfg.BrokenHealth = v == "true"
		case "error_rate":
			cfg.ErrorRate, _ = strconv.ParseFloat(v, 64)
		case "latency":
			cfg.Latency, _ = time.ParseDuration(v)
		}
	}
	if cfg.Version == "" {
		return cfg, fmt.Errorf("%s names no version", path)
	}
	return cfg, sc.Err()
}

// restartDemoApp is the demo's deploy step: stop the app running from dir,
// start the configured version detached (its own session, so it outlives
// the step), and wait until it answers.
func (m *Main) restartDemoApp(ctx context.Context, dir string, port int, conf string) error {
	cfg, err := readDemoConfig(conf)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(dir, "demo-app.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if syscall.Kill(pid, syscall.SIGTERM) == nil {
				fmt.Fprintf(m.Stdout, "stopped the running demo-app (pid %d)\n", pid)
				for i := 0; i < 100 && running(pid); i++ {
					time.Sleep(50 * time.Millisecond) // waiting for a foreign process: no event to wait on
				}
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "demo-app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"demo-app", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--version", cfg.Version, "--fail-rate", strconv.FormatFloat(cfg.FailRate, 'f', -1, 64)}
	if cfg.BrokenHealth {
		args = append(args, "--broken-health")
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return err
	}
	cmd.Process.Release()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			fmt.Fprintf(m.Stdout, "demo-app %s serving on %s (pid %d)\n", cfg.Version, url, pid)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("demo-app %s did not start serving on %s", cfg.Version, url)
}

// running reports whether pid is a live process; an exited one waiting to
// be reaped (a zombie) does not count.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// stopDemoApp stops the app running from dir, if any.
func stopDemoApp(dir string) {
	if b, err := os.ReadFile(filepath.Join(dir, "demo-app.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}
