package sqlstore_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

func evidenceItem(releaseID int64, typ, name string, content []byte, summary map[string]any) shipgate.Evidence {
	sum := sha256.Sum256(content)
	return shipgate.Evidence{ReleaseID: releaseID, Type: typ, Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content)), Summary: summary, AddedBy: "carol"}
}

func addEvidence(t *testing.T, db *sqlstore.DB, e *shipgate.Evidence, content []byte) bool {
	t.Helper()
	var added bool
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		added, err = tx.AddEvidence(ctx, e, content)
		return err
	})
	if err != nil {
		t.Fatalf("AddEvidence: %v", err)
	}
	return added
}

// testEvidence: items are kept in order with their summaries, the same
// bytes twice are one item, the bytes are kept once for every release,
// and neither items nor bytes can be changed.
func testEvidence(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r1, err := newRelease(db, "staging", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := newRelease(db, "staging", "1.1", "carol")
	if err != nil {
		t.Fatal(err)
	}
	cover := []byte("mode: set\na.go:1.1,2.2 1 1\n")
	c1 := evidenceItem(r1.ID, "coverage", "cover.out", cover, map[string]any{"format": "go", "line_percent": 100.0, "lines_total": 1})
	if !addEvidence(t, db, &c1, cover) || c1.ID == 0 || c1.AddedAt.IsZero() {
		t.Fatalf("first add: %+v", c1)
	}
	// The summary comes back as later reads give it: numbers are float64.
	if c1.Summary["lines_total"] != 1.0 {
		t.Errorf("summary after add %#v", c1.Summary)
	}
	again := evidenceItem(r1.ID, "coverage", "renamed.out", cover, nil)
	if addEvidence(t, db, &again, cover) || again.ID != c1.ID || again.Name != "cover.out" {
		t.Errorf("the same bytes again: %+v; want item %d unchanged", again, c1.ID)
	}
	asFile := evidenceItem(r1.ID, "file", "cover.out", cover, nil)
	if !addEvidence(t, db, &asFile, cover) || asFile.ID == c1.ID {
		t.Errorf("the same bytes as another type is another item: %+v", asFile)
	}
	other := evidenceItem(r2.ID, "coverage", "cover.out", cover, nil)
	if !addEvidence(t, db, &other, cover) {
		t.Error("the same bytes on another release is another item")
	}
	link := []byte(`{"title":"CHG-1","url":"https://tickets.example.com/CHG-1"}`)
	l1 := evidenceItem(r1.ID, "link", "CHG-1", link, map[string]any{"url": "https://tickets.example.com/CHG-1", "title": "CHG-1"})
	l1.Job, l1.Attempt, l1.AddedBy = "build", 2, "agent/a1"
	addEvidence(t, db, &l1, link)

	err = db.View(ctx, func(tx *sqlstore.Tx) error {
		list, err := tx.ListEvidence(ctx, r1.ID)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range list {
			got = append(got, e.Type+":"+e.Name+":"+e.Job+":"+e.AddedBy)
		}
		if want := "coverage:cover.out::carol file:cover.out::carol link:CHG-1:build:agent/a1"; strings.Join(got, " ") != want {
			t.Errorf("list %v; want %s", got, want)
		}
		if list[0].Summary["line_percent"] != 100.0 || list[1].Summary != nil || list[2].Attempt != 2 {
			t.Errorf("list %+v", list)
		}
		in := shipgate.EvidenceInput(list)
		if in["coverage"].(map[string]any)["line_percent"] != 100.0 || len(in["items"].([]any)) != 3 {
			t.Errorf("EvidenceInput %v", in)
		}
		none, err := tx.ListEvidence(ctx, 999)
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("a release without evidence: %v, %v; want empty", none, err)
		}
		e, err := tx.FindEvidence(ctx, l1.ID)
		if err != nil || e.SHA256 != l1.SHA256 || e.ReleaseID != r1.ID {
			t.Errorf("FindEvidence %+v, %v", e, err)
		}
		if _, err := tx.FindEvidence(ctx, 999); shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "evidence 999 not found") {
			t.Errorf("FindEvidence(999) = %v", err)
		}
		b, err := tx.EvidenceContent(ctx, c1.SHA256)
		if err != nil || string(b) != string(cover) {
			t.Errorf("content %q, %v", b, err)
		}
		if _, err := tx.EvidenceContent(ctx, strings.Repeat("0", 64)); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
			t.Errorf("content of unknown digest: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	raw := rawDB(t, db, engine)
	var blobs int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM evidence_blobs`).Scan(&blobs); err != nil || blobs != 2 {
		t.Errorf("%d blobs (%v); want 2: the coverage bytes once for three items, and the link", blobs, err)
	}
	for _, q := range []string{
		`UPDATE evidence SET name = 'x'`,
		`DELETE FROM evidence`,
		`UPDATE evidence_blobs SET content = content`,
		`DELETE FROM evidence_blobs`,
	} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "evidence is immutable") {
			t.Errorf("%s: %v; want refused", q, err)
		}
	}

	// The same new bytes attached to two releases at once: both stored,
	// the bytes once.
	shared := []byte("sbom of a shared base image")
	errs := make(chan error, 2)
	for _, rid := range []int64{r1.ID, r2.ID} {
		go func() {
			e := evidenceItem(rid, "sbom", "base.spdx.json", shared, nil)
			errs <- db.Update(ctx, func(tx *sqlstore.Tx) error {
				added, err := tx.AddEvidence(ctx, &e, shared)
				if err == nil && !added {
					err = fmt.Errorf("release %d: not added", rid)
				}
				return err
			})
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent add: %v", err)
		}
	}
	if err := raw.QueryRow(`SELECT COUNT(*) FROM evidence_blobs`).Scan(&blobs); err != nil || blobs != 3 {
		t.Errorf("%d blobs (%v); want 3", blobs, err)
	}

	// A size that is not the content's is a programming error, refused.
	bad := evidenceItem(r1.ID, "file", "x", []byte("abc"), nil)
	bad.Size = 4
	if err := db.Update(ctx, func(tx *sqlstore.Tx) error { _, err := tx.AddEvidence(ctx, &bad, []byte("abc")); return err }); err == nil {
		t.Error("a wrong size was stored")
	}
}
