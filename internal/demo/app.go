package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// AppConfig is what the demo HTTP service (shipgate demo-app) runs with.
type AppConfig struct {
	Listen       string
	Version      string
	FailRate     float64
	BrokenHealth bool
	// ErrorRate is the share of requests to / answered 500 (a bad
	// release that is healthy by its own account).
	ErrorRate float64
	// Latency is added to every answer of /.
	Latency time.Duration
	// Hiccups serves POST /hiccup?for=1s: for that long (1s by default, at
	// most a minute) HiccupErrorRate of / requests fail, as a process does
	// in a GC pause or with a full connection pool. Off unless asked.
	Hiccups bool
	// HiccupErrorRate is the share of / requests that fail during a
	// hiccup; 0 means 0.9.
	HiccupErrorRate float64
	// Config, if set, reads the version and rates from a demo artifact.
	Config string
}

// RunApp serves the demo app until ctx ends: / says its version (failing
// or slow as cfg asks), /healthz says whether it is healthy. It announces
// its address on out.
func RunApp(ctx context.Context, out io.Writer, cfg AppConfig) error {
	if cfg.Config != "" {
		file, err := ReadAppConfig(cfg.Config)
		if err != nil {
			return err
		}
		file.Listen = cfg.Listen
		cfg = file
	}
	mux := http.NewServeMux()
	var hiccupUntil atomic.Int64 // unix nanoseconds
	hiccupRate := cfg.HiccupErrorRate
	if hiccupRate <= 0 {
		hiccupRate = 0.9
	}
	if cfg.Hiccups {
		mux.HandleFunc("POST /hiccup", func(w http.ResponseWriter, r *http.Request) {
			d := time.Second
			if s := r.URL.Query().Get("for"); s != "" {
				var err error
				if d, err = time.ParseDuration(s); err != nil || d <= 0 || d > time.Minute {
					http.Error(w, "for must be a duration from 1ns to 1m, such as 1s", http.StatusBadRequest)
					return
				}
			}
			hiccupUntil.Store(time.Now().Add(d).UnixNano())
			fmt.Fprintf(w, "demo-app %s hiccups for %s\n", cfg.Version, d)
		})
	}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Latency > 0 {
			time.Sleep(cfg.Latency) // the demo's simulated work
		}
		if time.Now().UnixNano() < hiccupUntil.Load() && rand.Float64() < hiccupRate {
			http.Error(w, fmt.Sprintf("demo-app %s is hiccuping", cfg.Version), http.StatusInternalServerError)
			return
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
	fmt.Fprintf(out, "demo-app %s listening on http://%s\n", cfg.Version, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ReadAppConfig reads a demo artifact: key=value lines.
func ReadAppConfig(path string) (AppConfig, error) {
	cfg := AppConfig{}
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
		case "hiccups":
			cfg.Hiccups = v == "true"
		case "hiccup_error_rate":
			cfg.HiccupErrorRate, _ = strconv.ParseFloat(v, 64)
		}
	}
	if cfg.Version == "" {
		return cfg, fmt.Errorf("%s names no version", path)
	}
	return cfg, sc.Err()
}

// RestartApp is the demo's deploy step: stop the app running from dir,
// start the configured version detached (its own session, so it outlives
// the step), and wait until it answers.
func RestartApp(ctx context.Context, out io.Writer, dir string, port int, conf string) error {
	cfg, err := ReadAppConfig(conf)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(dir, "demo-app.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if syscall.Kill(pid, syscall.SIGTERM) == nil {
				fmt.Fprintf(out, "stopped the running demo-app (pid %d)\n", pid)
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
			fmt.Fprintf(out, "demo-app %s serving on %s (pid %d)\n", cfg.Version, url, pid)
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

// StopApp stops the app running from dir, if any.
func StopApp(dir string) {
	if b, err := os.ReadFile(filepath.Join(dir, "demo-app.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}
