package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// version says what the binary was built from: module, the commit of the
// checkout with its time and whether the tree was modified, as text, as
// JSON, and as --version.
func TestVersion(t *testing.T) {
	r := runBinary(t, nil, "version", "-o", "json")
	var v struct {
		Version, Module, Commit, GoVersion string
		CommitTime                         string `json:"commit_time"`
		Dirty                              *bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil {
		t.Fatalf("version -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if v.Module != "github.com/shipgate/shipgate" || v.Version == "" {
		t.Fatalf("version: %+v", v)
	}
	// Without VCS information whether the tree was modified is unknown:
	// no "dirty" at all, rather than a "false" nobody checked.
	if v.Commit == "" && (v.Dirty != nil || strings.Contains(r.stdout, `"dirty"`) || strings.Contains(r.stdout, `"commit"`)) {
		t.Fatalf("no VCS information, yet version -o json claims some:\n%s", r.stdout)
	}
	if v.Commit != "" && v.Dirty == nil {
		t.Fatalf("a commit without saying whether the tree was modified:\n%s", r.stdout)
	}
	if v.Commit == "" && !strings.Contains(runBinary(t, nil, "version").stdout, "(no VCS information") {
		t.Fatalf("no commit, and version does not say why")
	}
	// Built with VCS stamping (GOFLAGS may turn it off), it names the
	// checkout's commit. The go command stamps only a clone, whose .git is
	// a directory (not a git worktree, whose .git is a file).
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if st, serr := os.Stat("../../.git"); err != nil || serr != nil || !st.IsDir() {
		t.Logf("not a git clone: the build is not stamped (%v, %v)", err, serr)
		return
	}
	stamped := filepath.Join(t.TempDir(), "shipgate")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", stamped, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "version", "-o", "json").Output()
	if err != nil || json.Unmarshal(out, &v) != nil || v.Commit != strings.TrimSpace(string(head)) || v.CommitTime == "" {
		t.Fatalf("commit %q at %q (%v); the checkout is at %s", v.Commit, v.CommitTime, err, head)
	}
	text, err := exec.Command(stamped, "version").Output()
	flag, _ := exec.Command(stamped, "--version").Output()
	if err != nil || !strings.HasPrefix(string(text), "shipgate ") || string(text) != string(flag) || !strings.Contains(string(text), v.Commit) {
		t.Fatalf("version: %q; --version: %q", text, flag)
	}
}

// version without VCS information says so; its text and --version agree.
func TestVersionText(t *testing.T) {
	text := runBinary(t, nil, "version")
	flag := runBinary(t, nil, "--version")
	if text.code != 0 || flag.code != 0 || !strings.HasPrefix(text.stdout, "shipgate ") || text.stdout != flag.stdout {
		t.Fatalf("version: %q; --version: %q", text.stdout, flag.stdout)
	}
}

// demo --help tells both acts; the demo removes the temporary directory
// it created when it ends, on an error or on Ctrl-C as well.
func TestDemoCleansUp(t *testing.T) {
	help := runBinary(t, nil, "demo", "--help")
	for _, want := range []string{"Act 1", "Act 2", "canary", "judge", "temporary directory"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("demo --help lacks %q:\n%s", want, help.stdout)
		}
	}
	tmp := t.TempDir()
	left := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "shipgate-demo-*"))
		return m
	}
	// An error: the server cannot listen.
	r := runBinary(t, []string{"TMPDIR=" + tmp}, "demo", "--exit", "--listen", "256.0.0.1:1")
	if r.code == 0 || len(left()) != 0 {
		t.Fatalf("demo on a bad address: exit %d, left %v\n%s%s", r.code, left(), r.stdout, r.stderr)
	}
	// Ctrl-C while it runs.
	cmd := exec.Command(binary, "demo", "--delay", "1")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "SHIPGATE_SERVER=", "SHIPGATE_TOKEN=")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "deploying demo 1.0") {
	}
	if len(left()) != 1 {
		t.Fatalf("no demo directory while it runs: %v", left())
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if l := left(); len(l) != 0 {
		t.Fatalf("demo left %v after Ctrl-C", l)
	}
}
