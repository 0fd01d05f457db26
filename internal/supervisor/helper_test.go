package supervisor

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as the supervised service: with SUPERVISOR_HELPER
// set it runs helperMain instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("SUPERVISOR_HELPER") {
	case "":
		os.Exit(m.Run())
	case "serve":
		helperServe(os.Args[1:])
	case "sleep":
		for {
			syscall.Pause() // until a signal ends the process
		}
	case "detach":
		helperDetach(os.Args[1:])
	}
	os.Exit(2)
}

// helperInfo is what GET /info tells about the process.
type helperInfo struct {
	PID     int      `json:"pid"`
	PGID    int      `json:"pgid"`
	PortArg string   `json:"port_arg"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir"`
}

// helperServe is an HTTP server on 127.0.0.1:$PORT that can crash, spawn
// a child in its group, fail its health check or ignore SIGTERM.
func helperServe(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	port := fs.String("port", "", "must equal $PORT")
	healthFail := fs.Bool("health-fail", false, "answer /health with 503")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM")
	crashAtStart := fs.Bool("crash-at-start", false, "exit 3 before listening")
	fs.Parse(args)
	if *crashAtStart {
		fmt.Fprintln(os.Stderr, "boom: cannot open the database")
		os.Exit(3)
	}
	if *port != os.Getenv("PORT") {
		fmt.Fprintf(os.Stderr, "-port %q is not $PORT %q\n", *port, os.Getenv("PORT"))
		os.Exit(4)
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		go func() {
			<-c
			fmt.Println("got SIGTERM, shutting down")
			os.Exit(0)
		}()
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	fmt.Println("serving on", l.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if *healthFail {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		dir, _ := os.Getwd()
		pgid, _ := syscall.Getpgid(0)
		json.NewEncoder(w).Encode(helperInfo{PID: os.Getpid(), PGID: pgid, PortArg: *port, Env: os.Environ(), Dir: dir})
	})
	mux.HandleFunc("GET /crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("crashing on request")
		os.Exit(1)
	})
	mux.HandleFunc("GET /child", func(w http.ResponseWriter, r *http.Request) {
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = []string{"SUPERVISOR_HELPER=sleep"}
		if err := cmd.Start(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		go cmd.Wait()
		fmt.Fprint(w, cmd.Process.Pid)
	})
	mux.HandleFunc("GET /spam", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("lines"))
		line := strings.Repeat("x", 99)
		for range n {
			fmt.Println(line)
		}
	})
	http.Serve(l, mux)
	os.Exit(6)
}

// helperDetach starts helperServe in its own process group and exits, so
// the server is not the test's child: what an agent restart leaves behind.
// It prints the server's PID.
func helperDetach(args []string) {
	exe, _ := os.Executable()
	log, err := os.OpenFile(os.Getenv("DETACH_LOG"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		os.Exit(7)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = []string{"SUPERVISOR_HELPER=serve", "PORT=" + os.Getenv("PORT")}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.Exit(8)
	}
	fmt.Print(cmd.Process.Pid)
	os.Exit(0)
}
