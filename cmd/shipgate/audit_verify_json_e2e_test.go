package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
)

// verifyFailureJSON is what audit verify -o json says about a broken chain.
type verifyFailureJSON struct {
	OK           bool   `json:"ok"`
	Error        string `json:"error"`
	Events       int64  `json:"events"`
	BrokenSeq    int64  `json:"broken_seq"`
	LastGoodSeq  *int64 `json:"last_good_seq"`
	LastGoodHash string `json:"last_good_hash"`
	HeadSeq      *int64 `json:"head_seq"`
}

// On a broken chain, audit verify -o json names the first broken seq and
// the last good event (seq and hash), and does not call the last good
// event the head (issue 12 leftover: it printed head_seq for it).
func TestAuditVerifyJSONNamesTheBreak(t *testing.T) {
	s := startServer(t)
	s.ok("admin", "user", "create", "carol", "--role", "deployer")
	s.ok("admin", "user", "create", "dave", "--role", "approver")
	dbPath := filepath.Join(s.dir, "data", "shipgate.db") + "?_pragma=busy_timeout(10000)"
	hashOf := func(db *sql.DB, seq int64) string {
		var h string
		if err := db.QueryRow(`SELECT hash FROM audit_events WHERE seq = ?`, seq).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	verify := func() verifyFailureJSON {
		t.Helper()
		r := s.run("admin", "audit", "verify", "-o", "json")
		var v verifyFailureJSON
		if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 1 || err != nil {
			t.Fatalf("verify -o json: exit %d, %v\nstdout %s\nstderr %s", r.code, err, r.stdout, r.stderr)
		}
		return v
	}

	// The head the server recorded is past the end of the log: events
	// were cut from the end. The first broken seq is the first missing one.
	s.stop()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var head int64
	if err := db.QueryRow(`SELECT seq FROM audit_head WHERE id = 1`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_head SET seq = seq + 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	lastHash := hashOf(db, head)
	db.Close()
	s.start()
	v := verify()
	if v.OK || v.BrokenSeq != head+1 || v.LastGoodSeq == nil || *v.LastGoodSeq != head || v.LastGoodHash != lastHash || v.HeadSeq != nil {
		t.Fatalf("events cut from the end (log ends at %d): %+v", head, v)
	}

	// An event edited in the middle: seq 3 is broken, seq 2 the last good.
	s.stop()
	db, _ = sql.Open("sqlite", dbPath)
	for _, q := range []string{
		`UPDATE audit_head SET seq = seq - 1 WHERE id = 1`,
		`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	good := hashOf(db, 2)
	db.Close()
	s.start()
	v = verify()
	if v.OK || v.BrokenSeq != 3 || v.LastGoodSeq == nil || *v.LastGoodSeq != 2 || v.LastGoodHash != good || v.Events != 2 || v.HeadSeq != nil {
		t.Fatalf("seq 3 edited: %+v", v)
	}
	s.fails("audit chain broken at seq 3: content does not match its hash (edited)\nlast good event: seq 2 hash "+good, "admin", "audit", "verify")
}
