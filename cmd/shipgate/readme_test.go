package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// quickstartBlock returns the lines of the sh code block after marker.
func quickstartBlock(t *testing.T, readme, marker string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "<!-- "+marker+" -->")
	if !ok {
		t.Fatalf("README has no %s marker", marker)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("no sh block after %s", marker)
	}
	block, _, _ := strings.Cut(rest, "```")
	return strings.Split(strings.TrimSpace(block), "\n")
}

// TestReadmeQuickstart pastes the README's quickstart, line by line, into a
// shell against a fresh server, so the README stays true.
func TestReadmeQuickstart(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	serverLines := quickstartBlock(t, readme, "quickstart:server")
	const serveCmd = " go run ./cmd/shipgate serve"
	token, ok := strings.CutPrefix(serverLines[0], "SHIPGATE_BOOTSTRAP_TOKEN=")
	if len(serverLines) != 1 || !ok || !strings.HasSuffix(token, serveCmd) {
		t.Fatalf("server block changed: %q", serverLines)
	}
	token = strings.TrimSuffix(token, serveCmd)
	s := startServer(t, "SHIPGATE_BOOTSTRAP_TOKEN="+token)

	lines := quickstartBlock(t, readme, "quickstart:client")
	const build = "go build -o bin/shipgate ./cmd/shipgate && export PATH=$PWD/bin:$PATH"
	if lines[0] != build {
		t.Fatalf("first client line changed: %q", lines[0])
	}
	// The test has built the binary already; put it on PATH instead.
	script := []string{"set -euo pipefail", "export SHIPGATE_SERVER=" + s.url, "export PATH=" + filepath.Dir(binary) + ":$PATH"}
	for _, l := range lines[1:] {
		if strings.Contains(l, "# refused") {
			l = "! " + l // this line must fail
		}
		script = append(script, `echo "+ `+strings.ReplaceAll(l, `"`, `\"`)+`"`, l)
	}
	dir := s.workDir // where the server was started, like the repository in the README
	os.MkdirAll(filepath.Join(dir, "examples"), 0o755)
	example, err := os.ReadFile("../../examples/hello.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "examples", "hello.yaml"), example, 0o644)
	cmd := exec.Command("bash", "-c", strings.Join(script, "\n"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SHIPGATE_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`cannot approve it`,
		`waiting for approval: 1 of 2 required approvals from "release-managers"`,
		"release 2 succeeded",
		"greeting: hi",
		"access.denied",
		"audit chain OK",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
}

// TestReadmeCommandsListEveryCommand: the README's "Commands" block names
// every top-level command, so a newcomer reading it finds them all. It
// lacked `shipgate flag` (and checklist, freeze, policy), the commands of
// docs/flags.md and docs/governance.md.
func TestReadmeCommandsListEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal("README has no Commands section")
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, _ := strings.Cut(rest, "```")
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	for _, c := range m.rootCommand().Commands() {
		name := c.Name()
		if c.Hidden || name == "help" || name == "completion" {
			continue
		}
		if !strings.Contains(block, "shipgate "+name+" ") && !strings.Contains(block, "| "+name+" ") && !strings.Contains(block, "shipgate "+name+"\n") {
			t.Errorf("README's Commands block does not name `shipgate %s`", name)
		}
	}
}
