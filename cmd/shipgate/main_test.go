package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// runMain runs the CLI in-process with env as its whole environment and
// returns its exit code, stdout and stderr. Without SHIPGATE_SERVER in env
// the client talks to a port nothing listens on.
func runMain(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	if _, ok := env["SHIPGATE_SERVER"]; !ok {
		env = withEnv(env, "SHIPGATE_SERVER", closedURL(t))
	}
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func withEnv(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// closedURL is the URL of a port that refuses connections.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// eachCommand calls f with every command under root, root included.
func eachCommand(root *cobra.Command, f func(*cobra.Command)) {
	f(root)
	for _, c := range root.Commands() {
		eachCommand(c, f)
	}
}

// commandArgs is the command line that names c (without "shipgate").
func commandArgs(c *cobra.Command) []string {
	return strings.Fields(c.CommandPath())[1:]
}

// An unknown subcommand at any level of the tree is an error naming the
// command it was given to, with a suggestion when it looks like a typo; a
// group command shown help instead exited 0.
func TestUnknownSubcommandsFailEverywhere(t *testing.T) {
	m := &Main{Getenv: func(string) string { return "" }}
	n := 0
	eachCommand(m.rootCommand(), func(c *cobra.Command) {
		if !c.HasSubCommands() {
			return
		}
		n++
		args := append(commandArgs(c), "lsit")
		code, out, errOut := runMain(t, nil, args...)
		want := `unknown command "lsit" for "` + c.CommandPath() + `"`
		if c.CommandPath() == "shipgate rollback" {
			want = "" // rollback SERVICE: "lsit" is a service name there
		}
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("shipgate %s: exit %d, stderr %q, stdout %.60q; want non-zero exit and %s", strings.Join(args, " "), code, errOut, out, want)
		}
	})
	if n < 10 {
		t.Fatalf("only %d commands with subcommands found", n)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"release", "lsit"}, `unknown command "lsit" for "shipgate release"; did you mean "list"?`},
		{[]string{"relase"}, `unknown command "relase" for "shipgate"; did you mean "release"?`},
		{[]string{"agent", "token", "craete"}, `unknown command "craete" for "shipgate agent token"; did you mean "create"?`},
		{[]string{"audit", "verfy"}, `unknown command "verfy" for "shipgate audit"; did you mean "verify"?`},
		{[]string{"demo-app", "restrat"}, `unknown command "restrat" for "shipgate demo-app"; did you mean "restart"?`},
		// help names commands the same way (cobra's printed the top-level
		// help and exited 0).
		{[]string{"help", "relase"}, `unknown command "relase" for "shipgate"; did you mean "release"?`},
		{[]string{"help", "release", "lsit"}, `unknown command "lsit" for "shipgate release"; did you mean "list"?`},
	} {
		code, _, errOut := runMain(t, nil, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("shipgate %s: exit %d, stderr %q; want %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
	if code, out, _ := runMain(t, nil, "help", "release", "list"); code != 0 || !strings.Contains(out, "List releases") {
		t.Errorf("shipgate help release list: exit %d:\n%s", code, out)
	}
	// A group command alone still shows its help and succeeds.
	if code, out, _ := runMain(t, nil, "release"); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("shipgate release: exit %d:\n%s", code, out)
	}
}

// Enum-valued flags are checked before anything is sent: a typo is an
// error with the allowed values and a suggestion, never an empty answer.
func TestEnumFlagsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"release", "list", "--state", "runing"}, `did you mean "running"?`},
		{[]string{"release", "list", "--state", "queued,succeded"}, `did you mean "succeeded"?`},
		{[]string{"release", "list", "-o", "jsn"}, `did you mean "json"?`},
		{[]string{"release", "list", "-o", "yaml"}, `one of text, json`},
		{[]string{"notify", "list", "--state", "faild"}, `did you mean "failed"?`},
		{[]string{"user", "create", "dave", "--role", "aprover"}, `did you mean "approver"?`},
		{[]string{"user", "set-roles", "dave", "--roles", "viewer,deployr"}, `did you mean "deployer"?`},
		{[]string{"audit", "export", "-o", "text"}, `one of json, jsonl`},
	} {
		code, _, errOut := runMain(t, nil, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "connection refused") {
			t.Errorf("shipgate %s: exit %d, stderr %q; want %q before any request", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
	// Every -o that picks a format (not a file) is checked the same way.
	m := &Main{Getenv: func(string) string { return "" }}
	eachCommand(m.rootCommand(), func(c *cobra.Command) {
		f := c.Flags().Lookup("output")
		// audit checkpoint and release bundle write a file with -o.
		if f == nil || c.CommandPath() == "shipgate audit checkpoint" || c.CommandPath() == "shipgate release bundle" {
			return
		}
		args := append(commandArgs(c), "-o", "yml")
		code, _, errOut := runMain(t, nil, args...)
		if code == 0 || !strings.Contains(errOut, `invalid argument "yml"`) {
			t.Errorf("shipgate %s: exit %d, stderr %q; want the value refused", strings.Join(args, " "), code, errOut)
		}
	})
}

// Errors a newcomer meets first say what to do about them.
func TestErrorHints(t *testing.T) {
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html><body>It works!</body></html>"))
	}))
	defer html.Close()
	otherJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"no such thing"}`))
	}))
	defer otherJSON.Close()
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":"unauthorized","message":"missing or invalid token"}}`))
	}))
	defer unauthorized.Close()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"no token", map[string]string{"SHIPGATE_SERVER": unauthorized.URL}, []string{"whoami"}, []string{"no token given", "--token", "SHIPGATE_TOKEN"}},
		{"refused", nil, []string{"release", "list"}, []string{"connection refused", "SHIPGATE_SERVER", "shipgate serve"}},
		{"no scheme", map[string]string{"SHIPGATE_SERVER": "localhost:8080"}, []string{"whoami"}, []string{`"localhost:8080" has no scheme`, "http://localhost:8080"}},
		{"html", map[string]string{"SHIPGATE_SERVER": html.URL, "SHIPGATE_TOKEN": "sgp_x"}, []string{"release", "list"}, []string{"the server at " + html.URL + " did not answer like shipgate (HTTP 200 text/html)"}},
		{"other json", map[string]string{"SHIPGATE_SERVER": otherJSON.URL, "SHIPGATE_TOKEN": "sgp_x"}, []string{"whoami"}, []string{"the server at " + otherJSON.URL + " did not answer like shipgate (HTTP 404 application/json)"}},
		{"apply without -f", nil, []string{"apply", "svc.yaml"}, []string{"apply -f svc.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runMain(t, tc.env, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0")
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

// The agent joins with SHIPGATE_AGENT_TOKEN even when SHIPGATE_TOKEN is
// set too (the quickstart exports both); --token wins over both.
func TestAgentTokenPrecedence(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":"unauthorized","message":"invalid agent token"}}`))
	}))
	defer srv.Close()
	env := map[string]string{"SHIPGATE_SERVER": srv.URL, "SHIPGATE_TOKEN": "sgp_person", "SHIPGATE_AGENT_TOKEN": "sga_joinjoinjoin"}
	for _, tc := range []struct {
		flag []string
		want string
	}{
		{nil, "Bearer sga_joinjoinjoin"},
		{[]string{"--token", "sga_fromtheflag"}, "Bearer sga_fromtheflag"},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		args := append([]string{"agent", "--work-dir", t.TempDir(), "--name", "a1"}, tc.flag...)
		code, _, errOut := runMain(t, env, args...)
		mu.Lock()
		if code == 0 || len(got) == 0 || got[0] != tc.want {
			t.Errorf("%v: exit %d, sent %q, want %q; stderr %s", tc.flag, code, got, tc.want, errOut)
		}
		mu.Unlock()
	}
}
