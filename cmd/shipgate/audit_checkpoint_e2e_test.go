package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/testutil"
)

const checkpointService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  environments:
    - name: production
      approvals: {required: 2, from_groups: [release-managers]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// The attack of finding 7 against the real binary: keep checkpoints
// outside, rename the approver in the database and recompute the whole
// chain and head. `audit verify` alone is fooled; with the checkpoints
// it fails and names the seq.
func TestAuditCheckpointE2E(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s := startServer(t)
		testAuditCheckpointAttack(t, s, "sqlite", filepath.Join(s.dir, "data", "shipgate.db")+"?_pragma=busy_timeout(10000)")
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testutil.RequirePostgres(t).NewDatabase(t)
		s := startServerWith(t, []string{"--database", dsn})
		testAuditCheckpointAttack(t, s, "postgres", dsn)
	})
}

func testAuditCheckpointAttack(t *testing.T, s *server, engine, dsn string) {
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.ok("admin", "user", "create", "alice", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "bob", "--role", "approver", "--group", "release-managers")
	s.ok("admin", "user", "create", "vic", "--role", "viewer")
	for _, u := range []string{"carol", "alice", "bob", "vic"} {
		s.tokens[u] = strings.TrimSpace(s.ok("admin", "token", "create", "--user", u))
	}
	// The auditor records the public key out of band: here, derived from
	// the key file on the server's machine, which must agree with the API.
	key := strings.TrimSpace(s.ok("vic", "audit", "public-key"))
	if local := strings.TrimSpace(s.ok("", "audit", "public-key", "--key-file", filepath.Join(s.dir, "data", "audit-signing.key"))); local != key || !strings.HasPrefix(key, "ed25519:") {
		t.Fatalf("public key from the server %q, from the key file %q", key, local)
	}
	keyFile := filepath.Join(t.TempDir(), "audit.pub")
	os.WriteFile(keyFile, []byte(s.ok("vic", "audit", "public-key", "--pem")), 0o644)

	svc := filepath.Join(s.workDir, "shop.yaml")
	os.WriteFile(svc, []byte(checkpointService), 0o644)
	s.ok("admin", "apply", "-f", svc)
	os.WriteFile(filepath.Join(s.workDir, "shop-1.0.tar"), []byte("shop 1.0"), 0o644)
	r := s.create("carol", "shop", "--env", "production", "--version", "1.0", "--artifact", "shop-1.0.tar")

	cps := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	take := func() shipgate.AuditCheckpoint {
		t.Helper()
		s.ok("vic", "audit", "checkpoint", "-o", cps, "--append")
		all, err := shipgate.ParseAuditCheckpoints(mustOpen(t, cps))
		if err != nil {
			t.Fatal(err)
		}
		return all[len(all)-1]
	}
	before := take()
	// -o json is the output format here as for every read command: the
	// checkpoint on stdout, not a file named json.
	var onStdout shipgate.AuditCheckpoint
	s.jsonOut(&onStdout, "vic", "audit", "checkpoint")
	if onStdout.Seq != before.Seq || onStdout.Signature != before.Signature {
		t.Fatalf("audit checkpoint -o json: %+v, want the unmoved head's %+v", onStdout, before)
	}
	if _, err := os.Stat(filepath.Join(s.workDir, "json")); err == nil {
		t.Fatal("audit checkpoint -o json wrote a file named json")
	}
	if out := s.ok("vic", "audit", "export", "-o", "json"); !strings.Contains(out, `"action":"release.created"`) {
		t.Fatalf("audit export -o json:\n%s", out)
	}
	s.ok("alice", "approve", fmt.Sprint(r.ID))
	approved := take()
	s.ok("bob", "approve", fmt.Sprint(r.ID))
	if out := s.ok("carol", "release", "wait", fmt.Sprint(r.ID)); !strings.Contains(out, "succeeded") {
		t.Fatalf("wait: %s", out)
	}
	take()

	out := s.ok("vic", "audit", "verify", "--checkpoint", cps, "--public-key", key)
	if !strings.Contains(out, "audit chain OK") || !strings.Contains(out, "checkpoints: 3 held") {
		t.Fatalf("verify with checkpoints: %s", out)
	}
	// The head is printed, to be recorded elsewhere.
	var v struct {
		OK       bool   `json:"ok"`
		HeadSeq  int64  `json:"head_seq"`
		HeadHash string `json:"head_hash"`
		Matched  int    `json:"checkpoints_matched"`
	}
	s.jsonOut(&v, "vic", "audit", "verify", "--checkpoint", cps, "--public-key", keyFile, "-o", "json")
	if !v.OK || v.Matched != 3 || len(v.HeadHash) != 64 || !strings.Contains(s.ok("vic", "audit", "verify"), fmt.Sprintf("head: seq %d hash %s", v.HeadSeq, v.HeadHash)) {
		t.Fatalf("verify -o json: %+v", v)
	}

	// The intruder stops the server, renames the approver, recomputes the
	// chain and the head, and starts it again.
	s.stop()
	approvalSeq := rewriteApprover(t, engine, dsn, "alice", "mallory")
	s.start()
	if approvalSeq != before.Seq+1 || approved.Seq != approvalSeq {
		t.Fatalf("alice's approval is seq %d, want the one between the checkpoints of seq %d and %d", approvalSeq, before.Seq, approved.Seq)
	}
	if out := s.ok("vic", "audit", "verify"); !strings.Contains(out, "audit chain OK") {
		t.Fatalf("the chain alone should be fooled: %s", out)
	}
	where := fmt.Sprintf("seq %d is the first changed event (the checkpoint of seq %d still holds)", approvalSeq, before.Seq)
	res := s.fails(fmt.Sprintf("audit chain broken at seq %d:", approved.Seq), "vic", "audit", "verify", "--checkpoint", cps, "--public-key", key)
	if !strings.Contains(res.stderr, where) || !strings.Contains(res.stderr, "rewritten") {
		t.Fatalf("verify does not say where the rewrite starts (%q):\n%s", where, res.stderr)
	}
	res = s.run("vic", "audit", "verify", "--checkpoint", cps, "--public-key", key, "-o", "json")
	if res.code != 1 || !strings.Contains(res.stdout, `"ok": false`) {
		t.Fatalf("verify -o json on a rewritten log: exit %d\n%s", res.code, res.stdout)
	}
	// The server will not sign the rewritten log either.
	s.fails("refusing to sign", "vic", "audit", "checkpoint")

	// Checkpoints signed by another key, or edited, are refused.
	seed := make([]byte, shipgate.AuditSigningKeySize)
	other, _ := shipgate.NewAuditSigner(seed)
	forged := other.Sign(approved.Seq, approved.Hash, approved.At)
	otherFile := writeCheckpoints(t, forged)
	s.fails("signed by key "+other.PublicKey().ID(), "vic", "audit", "verify", "--checkpoint", otherFile, "--public-key", key)
	edited := approved
	edited.Hash = strings.Repeat("0", 64)
	s.fails("altered after signing", "vic", "audit", "verify", "--checkpoint", writeCheckpoints(t, edited), "--public-key", key)
	s.fails("--checkpoint needs --public-key", "vic", "audit", "verify", "--checkpoint", cps)
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func writeCheckpoints(t *testing.T, cps ...shipgate.AuditCheckpoint) string {
	t.Helper()
	var b strings.Builder
	for _, c := range cps {
		j, _ := json.Marshal(c)
		b.Write(append(j, '\n'))
	}
	path := filepath.Join(t.TempDir(), "cp.jsonl")
	os.WriteFile(path, []byte(b.String()), 0o644)
	return path
}

// rewriteApprover edits the database as an intruder with full access
// would: drop the append-only triggers, rename who approved, recompute
// every hash after it with the real hash function, and move the head. It
// returns the seq of the edited event.
func rewriteApprover(t *testing.T, engine, dsn, from, to string) int64 {
	t.Helper()
	db, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[engine], dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drops := map[string][]string{
		"sqlite":   {`DROP TRIGGER audit_events_no_update`},
		"postgres": {`DROP TRIGGER audit_events_append_only ON audit_events`},
	}[engine]
	for _, q := range drops {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	bind := func(q string) string {
		if engine == "postgres" {
			for i := 1; strings.Contains(q, "?"); i++ {
				q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
			}
		}
		return q
	}
	rows, err := db.Query(`SELECT seq, at, actor, action, subject, details FROM audit_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var events []shipgate.AuditEvent
	for rows.Next() {
		var e shipgate.AuditEvent
		var at int64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &details); err != nil {
			t.Fatal(err)
		}
		e.At, e.Details = time.UnixMicro(at).UTC(), []byte(details)
		events = append(events, e)
	}
	rows.Close()
	var edited int64
	prev := shipgate.GenesisHash
	for i := range events {
		e := &events[i]
		if e.Action == shipgate.ActionReleaseApproved && e.Actor == from {
			e.Actor, edited = to, e.Seq
		}
		e.PrevHash = prev
		if e.Hash, err = e.ComputeHash(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(bind(`UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`), e.Actor, e.PrevHash, e.Hash, e.Seq); err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if _, err := db.Exec(bind(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`), len(events), prev); err != nil {
		t.Fatal(err)
	}
	if edited == 0 {
		t.Fatalf("no approval by %s to rename", from)
	}
	return edited
}
