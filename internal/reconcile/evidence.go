package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/shipgate/shipgate"
	evd "github.com/shipgate/shipgate/internal/evidence"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// EvidenceUpload is one item to attach to a release: a file (Content) of
// Type, or a link (URL and Title, no Content). Job and Attempt name the
// step that produced it, when its runner attaches it.
type EvidenceUpload struct {
	ReleaseID  int64
	Type, Name string
	URL, Title string
	Content    []byte
	Job        string
	Attempt    int
	Actor      string
}

// AttachEvidence understands an upload (parses it, or verifies a
// signature against the release's artifact digest with sigs), then stores
// and audits it in one transaction. held, if set, is checked in that
// transaction too (an agent still holds its attempt). A malformed file is
// refused with its parser's message and nothing is stored. added is false
// when the release already had these bytes as this type: e is then the
// item attached before, and nothing is recorded.
func AttachEvidence(ctx context.Context, db *sqlstore.DB, sigs *evd.SignatureVerifier, up EvidenceUpload, held func(tx *sqlstore.Tx) error) (e shipgate.Evidence, added bool, err error) {
	if err := evd.CheckType(up.Type); err != nil {
		return e, false, err
	}
	if up.Type == evd.TypeLink && up.Name == "" {
		up.Name = up.Title
	}
	if err := evd.CheckName(up.Name); err != nil {
		return e, false, err
	}
	var rel *shipgate.Release
	if err := db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		rel, err = tx.FindRelease(ctx, up.ReleaseID)
		return err
	}); err != nil {
		return e, false, err
	}
	e = shipgate.Evidence{ReleaseID: up.ReleaseID, Type: up.Type, Name: up.Name, Job: up.Job, Attempt: up.Attempt, AddedBy: up.Actor}
	content := up.Content
	switch {
	case up.Type == evd.TypeLink:
		if len(up.Content) > 0 {
			return e, false, shipgate.Errorf(shipgate.EINVALID, "a link has no file: give its URL and title")
		}
		if e.Summary, err = evd.ParseLink(up.URL, up.Title); err != nil {
			return e, false, err
		}
		// A link's bytes are its summary, so its digest names the URL.
		if content, err = json.Marshal(e.Summary); err != nil {
			return e, false, err
		}
	case up.URL != "" || up.Title != "":
		return e, false, shipgate.Errorf(shipgate.EINVALID, "a URL and title are for type link; a %s is a file", up.Type)
	case len(up.Content) == 0:
		return e, false, shipgate.Errorf(shipgate.EINVALID, "%s is empty", up.Name)
	case up.Type == evd.TypeSignature:
		if e.Summary, err = sigs.Verify(up.Name, up.Content, rel.Artifact.SHA256); err != nil {
			return e, false, err
		}
	default:
		if e.Summary, err = evd.Parse(up.Type, up.Name, up.Content); err != nil {
			return e, false, err
		}
	}
	sum := sha256.Sum256(content)
	e.SHA256, e.Size = hex.EncodeToString(sum[:]), int64(len(content))
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		if held != nil {
			if err := held(tx); err != nil {
				return err
			}
		}
		var err error
		if added, err = tx.AddEvidence(ctx, &e, content); err != nil || !added {
			return err
		}
		return tx.Audit(ctx, evidenceAudit(up.Actor, e))
	})
	return e, added, err
}

func evidenceAudit(actor string, e shipgate.Evidence) shipgate.AuditEvent {
	details := map[string]any{"evidence_id": e.ID, "type": e.Type, "name": e.Name, "sha256": e.SHA256, "size": e.Size}
	if e.Summary != nil {
		details["summary"] = e.Summary
	}
	if e.Job != "" {
		details["job"], details["attempt"] = e.Job, e.Attempt
	}
	return shipgate.NewAuditEvent(actor, shipgate.ActionEvidenceAdded, shipgate.ReleaseSubject(e.ReleaseID), details)
}

// HeldRunning checks, in tx, that runner holds attempt key and that it is
// still running: what a runner may attach evidence to. Evidence from an
// attempt the server took back (lease lost, cancelled) is refused.
func HeldRunning(ctx context.Context, tx *sqlstore.Tx, runner string, key shipgate.AttemptKey) (shipgate.JobRun, error) {
	j, err := current(ctx, tx, runner, key)
	if err != nil {
		return j, err
	}
	if j.State != shipgate.JobRunning {
		return j, shipgate.Errorf(shipgate.ECONFLICT, "job %s is %s", j.Name, j.State)
	}
	return j, nil
}

// AttachEvidence attaches a file a step of attempt key produced, for the
// runner that holds the attempt (the built-in runner calls it directly;
// agents through the agent protocol). added is false when the release
// already had these bytes as this type (a retried upload).
func (d *Dispatcher) AttachEvidence(ctx context.Context, runner string, key shipgate.AttemptKey, typ, name string, content []byte) (e shipgate.Evidence, added bool, err error) {
	if typ == evd.TypeLink {
		return e, false, shipgate.Errorf(shipgate.EINVALID, "a step attaches files; links are added with shipgate evidence add")
	}
	held := func(tx *sqlstore.Tx) error {
		_, err := HeldRunning(ctx, tx, runner, key)
		return err
	}
	// Checked before the file is parsed too: a runner that no longer
	// holds the attempt is told so without the work.
	if err := d.DB.View(ctx, held); err != nil {
		return e, false, err
	}
	up := EvidenceUpload{ReleaseID: key.ReleaseID, Type: typ, Name: name, Content: content, Job: key.Job, Attempt: key.Attempt, Actor: shipgate.AgentSubject(runner)}
	return AttachEvidence(ctx, d.DB, d.Signatures, up, held)
}
