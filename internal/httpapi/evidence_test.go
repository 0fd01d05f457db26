package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/evidence"
	"github.com/shipgate/shipgate/internal/evidence/sigtest"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

const coverprofile = "mode: set\nshop/cart.go:1.1,2.2 3 1\nshop/cart.go:3.1,4.2 1 0\n"

func (f *fixture) evidenceEvents(t *testing.T) []shipgate.AuditEvent {
	t.Helper()
	var out []shipgate.AuditEvent
	f.db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{Limit: 10000})
		for _, e := range events {
			if e.Action == shipgate.ActionEvidenceAdded {
				out = append(out, e)
			}
		}
		return nil
	})
	return out
}

func TestEvidenceAttachListDownload(t *testing.T) {
	f, _, _, key := pinnedFixture(t, "sqlite")
	carol := f.client("carol")
	id := key.ReleaseID

	e, added, err := carol.AddEvidence(ctx, id, client.EvidenceFile{Type: "coverage", Name: "cover.out", Content: []byte(coverprofile)})
	if err != nil || !added {
		t.Fatalf("add: %v (added %v)", err, added)
	}
	if e.Summary["line_percent"] != 75.0 || e.AddedBy != "carol" || e.Size != int64(len(coverprofile)) {
		t.Errorf("item %+v", e)
	}
	again, added, err := carol.AddEvidence(ctx, id, client.EvidenceFile{Type: "coverage", Name: "other-name.out", Content: []byte(coverprofile)})
	if err != nil || added || again.ID != e.ID || again.Name != "cover.out" {
		t.Errorf("the same bytes again: %+v added=%v err=%v; want the first item, nothing added", again, added, err)
	}
	if _, _, err := carol.AddEvidenceLink(ctx, id, "https://tickets.example.com/CHG-7", "Change CHG-7"); err != nil {
		t.Fatal(err)
	}
	events := f.evidenceEvents(t)
	if len(events) != 2 || events[0].Actor != "carol" || events[0].Subject != shipgate.ReleaseSubject(id) ||
		!strings.Contains(string(events[0].Details), `"sha256":"`+e.SHA256+`"`) || !strings.Contains(string(events[0].Details), `"line_percent":75`) {
		t.Errorf("audit %v", events)
	}

	list, err := f.client("viewer").ListEvidence(ctx, id)
	if err != nil || len(list) != 2 || list[1].Type != "link" || list[1].Name != "Change CHG-7" || list[1].Summary["url"] != "https://tickets.example.com/CHG-7" {
		t.Fatalf("list %+v, %v", list, err)
	}
	rc, err := f.client("viewer").EvidenceContent(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != coverprofile {
		t.Errorf("download %q, %v", b, err)
	}
	if one, err := f.client("viewer").Evidence(ctx, e.ID); err != nil || one.SHA256 != e.SHA256 {
		t.Errorf("show %+v, %v", one, err)
	}
	if _, err := f.client("viewer").Evidence(ctx, 999); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("show 999: %v", err)
	}
	if _, err := f.client("viewer").ListEvidence(ctx, 999); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("list of release 999: %v", err)
	}
}

func TestEvidenceRefusalsChangeNothing(t *testing.T) {
	f, _, _, key := pinnedFixture(t, "sqlite")
	carol := f.client("carol")
	id := key.ReleaseID
	big := bytes.Repeat([]byte("x"), 300<<10) // over the fixture's 256 KiB JSON bound
	f.h.EvidenceMaxBytes = 1 << 20
	for _, tc := range []struct {
		name string
		c    *client.Client
		file client.EvidenceFile
		code string
		want string
	}{
		{"viewer", f.client("viewer"), client.EvidenceFile{Type: "file", Name: "a", Content: []byte("a")}, shipgate.EFORBIDDEN, `needs the "release.create" permission`},
		{"malformed junit", carol, client.EvidenceFile{Type: "tests", Name: "junit.xml", Content: []byte("<testsuite>\n<testcase>\n</testsuite>")}, shipgate.EINVALID, "junit.xml is not a valid tests file: line 3: element <testcase> closed by </testsuite>"},
		{"unknown type", carol, client.EvidenceFile{Type: "coverge", Name: "c", Content: []byte("x")}, shipgate.EINVALID, `unknown evidence type "coverge"`},
		{"empty", carol, client.EvidenceFile{Type: "file", Name: "e", Content: nil}, shipgate.EINVALID, "e is empty"},
		{"no name", carol, client.EvidenceFile{Type: "file", Content: []byte("x")}, shipgate.EINVALID, "evidence name is empty"},
		{"unconfigured signature", carol, client.EvidenceFile{Type: "signature", Name: "b.json", Content: []byte("{}")}, shipgate.EFAILEDPRECONDITION, "configure evidence.signature"},
		{"too large", carol, client.EvidenceFile{Type: "file", Name: "big", Content: bytes.Repeat([]byte("x"), 1<<20+1)}, shipgate.ETOOLARGE, "larger than the limit of 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.c.AddEvidence(ctx, id, tc.file)
			if shipgate.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v (%s); want %s containing %q", err, shipgate.ErrorCode(err), tc.code, tc.want)
			}
		})
	}
	if _, _, err := carol.AddEvidence(ctx, 999, client.EvidenceFile{Type: "file", Name: "a", Content: []byte("a")}); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Errorf("release 999: %v", err)
	}
	if _, _, err := carol.AddEvidenceLink(ctx, id, "javascript:alert(1)", "x"); err == nil || !strings.Contains(err.Error(), "must be an absolute http or https URL") {
		t.Errorf("javascript link: %v", err)
	}
	if list, _ := carol.ListEvidence(ctx, id); len(list) != 0 || len(f.evidenceEvents(t)) != 0 {
		t.Fatalf("refusals stored %v", list)
	}
	// A file larger than JSON bodies may be passes the upload bound.
	if _, _, err := carol.AddEvidence(ctx, id, client.EvidenceFile{Type: "file", Name: "big", Content: big}); err != nil {
		t.Errorf("300 KiB file: %v", err)
	}
	// ... but other routes keep theirs.
	status, _ := f.raw(t, "POST", "/api/v1/releases/1/approve", f.tokens["carol"], big)
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("approve with a 300 KiB body: %d", status)
	}
}

func TestEvidenceSignature(t *testing.T) {
	f, art, _, key := pinnedFixture(t, "sqlite")
	signer, _ := sigtest.New()
	pem, _ := signer.PublicKeyPEM()
	v, err := evidence.NewSignatureVerifier(evidence.SignatureConfig{PublicKeyPEM: pem})
	if err != nil {
		t.Fatal(err)
	}
	f.h.Signatures = v
	artifact, _ := os.ReadFile(art)
	digest := sha256.Sum256(artifact)
	good, _ := signer.Bundle(artifact)
	other, _ := signer.Bundle([]byte("another build"))
	carol := f.client("carol")
	if _, _, err := carol.AddEvidence(ctx, key.ReleaseID, client.EvidenceFile{Type: "signature", Name: "other.sigstore.json", Content: other}); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "signature other.sigstore.json does not verify for the release's artifact sha256:") {
		t.Errorf("a bundle of another digest: %v", err)
	}
	e, _, err := carol.AddEvidence(ctx, key.ReleaseID, client.EvidenceFile{Type: "signature", Name: "app.sigstore.json", Content: good})
	if err != nil || e.Summary["verified"] != true || e.Summary["subject_sha256"] != hex.EncodeToString(digest[:]) {
		t.Errorf("the release's bundle: %+v, %v", e, err)
	}
}

func TestAgentEvidence(t *testing.T) {
	f, _, agent, key := pinnedFixture(t, "sqlite")
	e, added, err := agent.AttachEvidence(ctx, "", key, "coverage", "cover.out", []byte(coverprofile))
	if err != nil || !added || e.Job != key.Job || e.Attempt != key.Attempt || e.AddedBy != "agent/web-1" || e.Summary["line_percent"] != 75.0 {
		t.Fatalf("agent attach: %+v added=%v err=%v", e, added, err)
	}
	if _, added, err := agent.AttachEvidence(ctx, "", key, "coverage", "cover.out", []byte(coverprofile)); err != nil || added {
		t.Errorf("a retried upload: added=%v err=%v", added, err)
	}
	wrong := key
	wrong.Attempt = 7
	if _, _, err := agent.AttachEvidence(ctx, "", wrong, "file", "x", []byte("x")); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Errorf("an attempt it does not hold: %v", err)
	}
	if _, _, err := agent.AttachEvidence(ctx, "", key, "tests", "junit.xml", []byte("<nope")); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Errorf("malformed: %v", err)
	}
	if _, _, err := agent.AttachEvidence(ctx, "", key, "link", "x", nil); err == nil || !strings.Contains(err.Error(), "links are added with shipgate evidence add") {
		t.Errorf("link from an agent: %v", err)
	}
	if ev := f.evidenceEvents(t); len(ev) != 1 || ev[0].Actor != "agent/web-1" || !strings.Contains(string(ev[0].Details), `"job":"`+key.Job+`"`) {
		t.Errorf("audit %v", ev)
	}
	// A user token is not an agent's.
	if _, _, err := f.client("carol").AsAgent(f.tokens["carol"]).AttachEvidence(ctx, "", key, "file", "x", []byte("x")); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Errorf("a user's token on the agent route: %v", err)
	}
}
