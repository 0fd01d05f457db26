package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// audit verify against the real server reads the stream and reports its
// progress on stderr, keeping stdout (and -o json) clean; export gives one
// event a line, the same events verify counted.
func TestAuditVerifyStreamE2E(t *testing.T) {
	s := startServer(t)
	r := s.run("admin", "audit", "verify", "--progress-every", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "audit chain OK") || !strings.Contains(r.stderr, "audit verify: 2 events verified so far (up to seq 2)…") {
		t.Fatalf("verify: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = s.run("admin", "audit", "verify", "--progress-every", "1", "-o", "json")
	var v struct {
		OK     bool  `json:"ok"`
		Events int64 `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil || !v.OK || v.Events == 0 || strings.Count(r.stderr, "events verified so far") != int(v.Events) {
		t.Fatalf("verify -o json: exit %d, %v\nstdout %s\nstderr %s", r.code, err, r.stdout, r.stderr)
	}
	if r := s.run("admin", "audit", "verify", "--progress-every", "0"); r.code != 0 || strings.Contains(r.stderr, "so far") {
		t.Fatalf("--progress-every 0: exit %d stderr %s", r.code, r.stderr)
	}
	s.fails("--progress-every -1: give a number of events", "admin", "audit", "verify", "--progress-every", "-1")
	export := s.ok("admin", "audit", "export")
	lines := strings.Split(strings.TrimSpace(export), "\n")
	if int64(len(lines)) < v.Events || !strings.HasPrefix(lines[0], `{"seq":1,`) {
		t.Fatalf("export of %d events:\n%s", v.Events, export)
	}
}
