package bench

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shipgate/shipgate/internal/router"
)

// benchChild is a process the bench started: a backend or a proxy.
type benchChild struct {
	name, addr, logPath string
	cmd                 *exec.Cmd
	stdin               io.Closer // closing it stops a Go child
	done                chan struct{}
}

func (c *benchChild) pid() int { return c.cmd.Process.Pid }

// stop ends the child: a Go child when its stdin closes (so it can write
// its profile), nginx on SIGTERM; it is killed if it takes more than 5 s.
func (c *benchChild) stop() {
	if c.stdin != nil {
		c.stdin.Close()
	} else {
		c.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// logTail is the end of the child's log, for an error.
func (c *benchChild) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

var logTimestamp = regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |time=\S+ )`)

// logSummary counts the child's log lines by message, for the notes:
// "context canceled" proxy errors are the requests wrk cuts when it stops.
func (c *benchChild) logSummary() string {
	b, _ := os.ReadFile(c.logPath)
	counts := map[string]int{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		line = logTimestamp.ReplaceAllString(line, "")
		if line == "" || strings.Contains(line, `msg="router listening"`) {
			continue
		}
		if counts[line] == 0 {
			order = append(order, line)
		}
		counts[line]++
	}
	var parts []string
	for i, line := range order {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d other messages", len(order)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %q", counts[line], line))
	}
	return strings.Join(parts, "; ")
}

func (c *benchChild) exited(err error) error {
	return fmt.Errorf("%s did not start: %v; its log: %s", c.name, err, cmp.Or(c.logTail(), "(empty)"))
}

// startGoChild runs a hidden bench subcommand of this binary and waits for
// the address it prints once it listens.
func startGoChild(ctx context.Context, dir, name, self string, args ...string) (*benchChild, error) {
	c := &benchChild{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c.cmd = exec.Command(self, args...)
	c.cmd.Stderr = logf
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case c.addr = <-line:
		if c.addr == "" {
			<-c.done
			return c, c.exited(fmt.Errorf("it exited: %s", c.cmd.ProcessState))
		}
		return c, nil
	case <-time.After(10 * time.Second):
		return c, c.exited(errors.New("no address after 10 s"))
	case <-ctx.Done():
		return c, ctx.Err()
	}
}

// startNginx runs nginx in the foreground with a config of its own, one
// worker and keep-alive connections to the backend.
func startNginx(ctx context.Context, dir, nginx, backend string) (*benchChild, error) {
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream backend {
        server %[2]s;
        keepalive 64;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, prefix, backend, addr)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	c := &benchChild{name: "nginx", addr: addr, logPath: filepath.Join(prefix, "error.log"), done: make(chan struct{})}
	c.cmd = exec.Command(nginx, "-e", c.logPath, "-c", confPath, "-p", prefix, "-g", "daemon off;")
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.done:
			return c, c.exited(fmt.Errorf("it exited: %s", c.cmd.ProcessState))
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return c, c.exited(fmt.Errorf("not listening on %s after 10 s", addr))
		}
	}
}

// treeCPU is the user+system CPU time of a process and its descendants
// (nginx's master and worker), from /proc/PID/stat in USER_HZ=100 ticks.
func treeCPU(root int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	type proc struct{ ppid, ticks int64 }
	procs := map[int64]proc{}
	for _, e := range entries {
		pid, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the command name, which may hold spaces: state is
		// field 3, ppid 4, utime 14, stime 15.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.ParseInt(f[1], 10, 64)
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid, ut + st}
	}
	if _, ok := procs[int64(root)]; !ok {
		return 0, fmt.Errorf("process %d is gone", root)
	}
	var ticks int64
	var walk func(int64)
	walk = func(pid int64) {
		ticks += procs[pid].ticks
		for p, pr := range procs {
			if pr.ppid == pid {
				walk(p)
			}
		}
	}
	walk(int64(root))
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

type wrkResult struct {
	rps, p50Ms       float64
	requests, errors int64
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in `)
	wrkP50      = regexp.MustCompile(`\s50%\s+([0-9.]+)(us|ms|s)\b`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func runWrk(ctx context.Context, wrk, addr string, threads, conns int, d time.Duration) (wrkResult, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency", "http://" + addr + "/"}
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	n := wrkRequests.FindStringSubmatch(out)
	p := wrkP50.FindStringSubmatch(out)
	if m == nil || n == nil || p == nil {
		return r, fmt.Errorf("cannot read wrk's output: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseInt(n[1], 10, 64)
	r.p50Ms, _ = strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		r.p50Ms /= 1000
	case "s":
		r.p50Ms *= 1000
	}
	if e := wrkNon2xx.FindStringSubmatch(out); e != nil {
		v, _ := strconv.ParseInt(e[1], 10, 64)
		r.errors += v
	}
	if e := wrkSocket.FindStringSubmatch(out); e != nil {
		for _, s := range e[1:] {
			v, _ := strconv.ParseInt(s, 10, 64)
			r.errors += v
		}
	}
	return r, nil
}

// benchBody is what the bench backend answers: small and fixed.
var benchBody = []byte("shipgate bench backend: a small fixed body of 64 bytes ........\n")

// ServeBackend is the backend child of `bench router`: a tiny HTTP server
// on listen. It prints its address on out and serves until its stdin
// closes (the parent is done, or gone) or ctx ends.
func ServeBackend(ctx context.Context, out io.Writer, listen string) error {
	length := []string{strconv.Itoa(len(benchBody))}
	ctype := []string{"text/plain; charset=utf-8"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = ctype
		w.Header()["Content-Length"] = length
		w.Write(benchBody)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return serveBenchChild(ctx, out, ln.Addr().String(), srv.Close)
}

// ProxyConfig is what a proxy child of `bench router` runs: which proxy
// (shipgate, reverseproxy, reverseproxy-tuned, reverseproxy-pool), where it
// listens, its backends and, for shipgate, the canary's weight.
type ProxyConfig struct {
	Kind, Listen, Backend, Canary string
	Weight                        int
	// CPUProfile, if set, is where a CPU profile of the whole run goes.
	CPUProfile string
}

// ServeProxy is a proxy child of `bench router`: the shipgate router or one
// of the httputil.ReverseProxy baselines. Like ServeBackend it prints its
// address on out and serves until its stdin closes or ctx ends.
func ServeProxy(ctx context.Context, out io.Writer, cfg ProxyConfig) error {
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	target := &url.URL{Scheme: "http", Host: cfg.Backend}
	var rp *httputil.ReverseProxy
	switch cfg.Kind {
	case "shipgate":
		rt := router.New(slog.New(slog.NewTextHandler(os.Stderr, nil)))
		t := router.Table{Stable: &router.Backend{ID: "stable", Version: "v1", Addr: cfg.Backend}}
		if cfg.Canary != "" {
			t.Canary, t.Weight = &router.Backend{ID: "canary", Version: "v2", Addr: cfg.Canary}, cfg.Weight
		}
		rt.Set("bench", t)
		if err := rt.Serve("bench", cfg.Listen); err != nil {
			return err
		}
		return serveBenchChild(ctx, out, rt.Addr("bench"), rt.Close)
	case "reverseproxy":
		rp = httputil.NewSingleHostReverseProxy(target)
	case "reverseproxy-tuned":
		rp = httputil.NewSingleHostReverseProxy(target)
		rp.Transport = router.NewTransport()
	case "reverseproxy-pool":
		rp = httputil.NewSingleHostReverseProxy(target)
		rp.Transport, rp.BufferPool = router.NewTransport(), &benchBufferPool{}
	default:
		return fmt.Errorf("unknown --kind %q (shipgate, reverseproxy, reverseproxy-tuned, reverseproxy-pool)", cfg.Kind)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second} // as the router's
	go srv.Serve(ln)
	return serveBenchChild(ctx, out, ln.Addr().String(), srv.Close)
}

// serveBenchChild prints addr for the parent, then waits for stdin to close
// (the parent is done, or gone) or a signal.
func serveBenchChild(ctx context.Context, out io.Writer, addr string, closeFn func() error) error {
	if _, err := fmt.Fprintln(out, addr); err != nil {
		return err
	}
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-stdinClosed:
	case <-ctx.Done():
	}
	return closeFn()
}

// benchBufferPool reuses ReverseProxy's 32 KiB copy buffers.
type benchBufferPool struct{ p sync.Pool }

func (b *benchBufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *benchBufferPool) Put(buf []byte) { b.p.Put(&buf) }
