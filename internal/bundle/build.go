package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Bounds keep a bundle a file an auditor can handle.
const (
	// MaxEvents is the most events of the release and its rollbacks.
	MaxEvents = 10000
	// MaxDecisions is the most policy decisions of one release.
	MaxDecisions = 10000
	// MaxChain is the longest stretch of chain (events and links) from
	// the release's first event to the checkpoint.
	MaxChain = 200000
	// MaxBytes is the most a bundle file may be; Verify refuses larger.
	MaxBytes = 64 << 20
)

// Build returns the signed bundle of release id: the DSSE envelope as
// canonical JSON followed by a newline, the form Verify requires.
func Build(ctx context.Context, db *sqlstore.DB, s *shipgate.AuditSigner, id int64) ([]byte, error) {
	st, lastSeq, err := read(ctx, db, id)
	if err != nil {
		return nil, err
	}
	keyID := s.PublicKey().ID()
	cp, ok, err := covering(ctx, db, keyID, lastSeq)
	if err != nil {
		return nil, err
	}
	if !ok {
		// No checkpoint covers the newest event yet: sign the head now
		// (stored, published by the background signer within its interval),
		// as `audit checkpoint` does for any reader.
		if _, _, err := db.CheckpointUnpublished(ctx, s); err != nil {
			return nil, fmt.Errorf("sign the audit head for the bundle: %w", err)
		}
		if cp, ok, err = covering(ctx, db, keyID, lastSeq); err != nil {
			return nil, err
		} else if !ok {
			return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "no audit checkpoint covers seq %d", lastSeq)
		}
	}
	if err := chain(ctx, db, &st.Predicate, cp); err != nil {
		return nil, err
	}
	st.Predicate.Checkpoint = &cp
	st.Predicate.BuiltAt = time.Now().UTC().Truncate(time.Microsecond)
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	b, err := encode(s.SignDSSE(shipgate.InTotoPayloadType, payload))
	if err != nil {
		return nil, err
	}
	return fits(id, b)
}

// fits refuses a bundle larger than Verify reads: the counts above bound
// events, not their details, and a file verify-bundle must refuse is no
// bundle to hand an auditor (nor one to build and send again and again).
func fits(id int64, b []byte) ([]byte, error) {
	if len(b) > MaxBytes {
		return nil, shipgate.Errorf(shipgate.ETOOLARGE, "the bundle of release %d would be %d bytes, more than verify-bundle reads (%d)", id, len(b), MaxBytes)
	}
	return b, nil
}

// encode writes the envelope's one canonical form.
func encode(env shipgate.DSSEEnvelope) ([]byte, error) {
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func covering(ctx context.Context, db *sqlstore.DB, keyID string, seq int64) (cp shipgate.AuditCheckpoint, ok bool, err error) {
	err = db.View(ctx, func(tx *sqlstore.Tx) error {
		cp, ok, err = tx.CheckpointCovering(ctx, keyID, seq)
		return err
	})
	return cp, ok, err
}

// read gathers the statement of release id, with the release's events but
// no links yet, and the seq of its newest event.
func read(ctx context.Context, db *sqlstore.DB, id int64) (st shipgate.BundleStatement, lastSeq int64, err error) {
	p := &st.Predicate
	err = db.View(ctx, func(tx *sqlstore.Tx) error {
		r, err := tx.FindRelease(ctx, id)
		if err != nil {
			return err
		}
		p.Release = *r
		ids := []int64{id}
		rbs, err := tx.RollbacksOf(ctx, id)
		if err != nil {
			return err
		}
		for _, rid := range rbs {
			rb, err := tx.FindRelease(ctx, rid)
			if err != nil {
				return err
			}
			p.Rollbacks = append(p.Rollbacks, *rb)
			ids = append(ids, rid)
		}
		if p.Approvals, err = tx.ListApprovals(ctx, id); err != nil {
			return err
		}
		if p.Checklist, err = tx.Checklist(ctx, r); err != nil {
			return err
		}
		if p.Evidence, err = tx.ListEvidence(ctx, id); err != nil {
			return err
		}
		p.PolicyDecisions = []shipgate.BundlePolicyDecision{}
		for _, rid := range ids {
			ds, err := decisions(ctx, tx, rid)
			if err != nil {
				return err
			}
			for _, d := range ds {
				p.PolicyDecisions = append(p.PolicyDecisions, shipgate.BundlePolicyDecision{
					ID: d.ID, Point: d.Point, ReleaseID: d.ReleaseID, Policies: d.Policies,
					BundleDigest: d.BundleDigest, InputDigest: d.InputDigest,
					Result: d.Result, Deny: d.Deny, Warn: d.Warn, Error: d.Error,
					ResultDigest: d.ResultDigest, Actor: d.Actor, At: d.At,
				})
			}
		}
		for _, rid := range ids {
			err := tx.EachAudit(ctx, shipgate.AuditFilter{ReleaseID: rid, Limit: MaxEvents + 1}, func(e *shipgate.AuditEvent) error {
				c := *e
				c.Details = slices.Clone(e.Details)
				p.Audit = append(p.Audit, shipgate.BundleAuditEntry{Event: &c})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, 0, err
	}
	if len(p.Audit) > MaxEvents {
		return st, 0, shipgate.Errorf(shipgate.ETOOLARGE, "release %d has more than %d audit events, more than a bundle holds", id, MaxEvents)
	}
	if len(p.Audit) == 0 {
		return st, 0, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "release %d has no audit events", id)
	}
	slices.SortFunc(p.Audit, func(a, b shipgate.BundleAuditEntry) int { return int(a.Event.Seq - b.Event.Seq) })
	for _, a := range p.Audit {
		lastSeq = max(lastSeq, a.Event.Seq)
	}
	if p.Approvals == nil {
		p.Approvals = []shipgate.Approval{}
	}
	if p.Checklist == nil {
		p.Checklist = []shipgate.ChecklistItemState{}
	}
	if p.Evidence == nil {
		p.Evidence = []shipgate.Evidence{}
	}
	st.Type = shipgate.InTotoStatementType
	st.PredicateType = shipgate.BundlePredicateType
	st.Subject = []shipgate.BundleSubject{{Name: SubjectName(&p.Release), Digest: map[string]string{"sha256": p.Release.Artifact.SHA256}}}
	return st, lastSeq, nil
}

// decisions returns every policy decision on release id, page by page
// (the store hands out at most a page at a time).
func decisions(ctx context.Context, tx *sqlstore.Tx, id int64) ([]shipgate.PolicyDecision, error) {
	const page = 1000
	var out []shipgate.PolicyDecision
	var after int64
	for {
		ds, err := tx.ListPolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: id, AfterID: after, Limit: page})
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
		if len(out) > MaxDecisions {
			return nil, shipgate.Errorf(shipgate.ETOOLARGE, "release %d has more than %d policy decisions, more than a bundle holds", id, MaxDecisions)
		}
		if len(ds) < page {
			return out, nil
		}
		after = ds[len(ds)-1].ID
	}
}

// SubjectName is the in-toto subject name of a release's artifact: the
// base name of its location (a file name or the last part of a URL), or
// "<service>-<version>" when that gives nothing.
func SubjectName(r *shipgate.Release) string {
	loc := r.Artifact.Location
	if i := strings.IndexAny(loc, "?#"); i >= 0 {
		loc = loc[:i]
	}
	if b := path.Base(strings.ReplaceAll(loc, "\\", "/")); b != "" && b != "." && b != "/" {
		return b
	}
	return r.Service + "-" + r.Version
}

// chain replaces the release's events in p.Audit by the whole stretch of
// the chain from the first of them to cp: the release's events in full,
// every other event as a link.
func chain(ctx context.Context, db *sqlstore.DB, p *shipgate.ReleaseEvidence, cp shipgate.AuditCheckpoint) error {
	first := p.Audit[0].Event.Seq
	if n := cp.Seq - first + 1; n > MaxChain {
		return shipgate.Errorf(shipgate.ETOOLARGE, "the release's events span %d events of the audit log up to checkpoint seq %d, more than a bundle holds (%d)", n, cp.Seq, MaxChain)
	}
	// An event of the release is told by its subject, as the store files
	// it, so one written since read is given in full too.
	ids := map[int64]bool{p.Release.ID: true}
	for _, rb := range p.Rollbacks {
		ids[rb.ID] = true
	}
	out := make([]shipgate.BundleAuditEntry, 0, cp.Seq-first+1)
	err := db.View(ctx, func(tx *sqlstore.Tx) error {
		return tx.EachAudit(ctx, shipgate.AuditFilter{AfterSeq: first - 1, UpToSeq: cp.Seq}, func(e *shipgate.AuditEvent) error {
			if id, ok := shipgate.ReleaseIDOf(e.Subject); ok && ids[id] {
				c := *e
				c.Details = slices.Clone(e.Details)
				out = append(out, shipgate.BundleAuditEntry{Event: &c})
			} else {
				out = append(out, shipgate.BundleAuditEntry{Link: &shipgate.BundleAuditLink{Seq: e.Seq, PrevHash: e.PrevHash, Hash: e.Hash}})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	p.Audit = out
	return nil
}
