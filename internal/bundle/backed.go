package bundle

import (
	"encoding/json"

	"github.com/shipgate/shipgate"
)

// checkBacked holds the predicate's approvals, policy decisions, checklist
// ticks and evidence to the audit events the bundle gives in full: each
// must be the one its event recorded. The events are what the chain and
// the checkpoints (the bundle's own and archived ones) fix; the predicate's
// tables are only rows the server read from its database when it built the
// bundle. Without this, a row written into the database behind the audit
// log's back (an approval nobody gave, a deny turned into an allow) would
// be signed into a bundle that verifies, and reported as fact.
func checkBacked(p *shipgate.ReleaseEvidence) error {
	type approvalKey struct {
		id                    int64
		actor, action, digest string
	}
	type decisionKey struct {
		id                                         int64
		subject, actor, result, bundle, input, res string
	}
	type tickKey struct{ actor, item, link string }
	type evidenceKey struct {
		id                int64
		typ, name, sha256 string
	}
	approvals := map[approvalKey]bool{}
	decisions := map[decisionKey]bool{}
	ticks := map[tickKey]bool{}
	evidence := map[evidenceKey]bool{}
	own := shipgate.ReleaseSubject(p.Release.ID)
	for _, a := range p.Audit {
		e := a.Event
		if e == nil {
			continue
		}
		var d struct {
			ApprovalID   int64  `json:"approval_id"`
			Digest       string `json:"digest"`
			Decision     int64  `json:"decision"`
			Result       string `json:"result"`
			BundleDigest string `json:"bundle_digest"`
			InputDigest  string `json:"input_digest"`
			ResultDigest string `json:"result_digest"`
			Item         string `json:"item"`
			Link         string `json:"link"`
			EvidenceID   int64  `json:"evidence_id"`
			Type         string `json:"type"`
			Name         string `json:"name"`
			SHA256       string `json:"sha256"`
		}
		switch e.Action {
		case shipgate.ActionReleaseApproved, shipgate.ActionReleaseRejected, shipgate.ActionPolicyDecided,
			shipgate.ActionChecklistTicked, shipgate.ActionEvidenceAdded:
		default:
			continue
		}
		if json.Unmarshal(e.Details, &d) != nil {
			continue // an event of another form backs nothing
		}
		switch e.Action {
		case shipgate.ActionReleaseApproved, shipgate.ActionReleaseRejected:
			if e.Subject == own && d.ApprovalID != 0 {
				approvals[approvalKey{d.ApprovalID, e.Actor, e.Action, d.Digest}] = true
			}
		case shipgate.ActionPolicyDecided:
			decisions[decisionKey{d.Decision, e.Subject, e.Actor, d.Result, d.BundleDigest, d.InputDigest, d.ResultDigest}] = true
		case shipgate.ActionChecklistTicked:
			if e.Subject == own {
				ticks[tickKey{e.Actor, d.Item, d.Link}] = true
			}
		case shipgate.ActionEvidenceAdded:
			if e.Subject == own {
				evidence[evidenceKey{d.EvidenceID, d.Type, d.Name, d.SHA256}] = true
			}
		}
	}
	for _, a := range p.Approvals {
		action := shipgate.ActionReleaseApproved
		if a.Decision == shipgate.DecisionReject {
			action = shipgate.ActionReleaseRejected
		} else if a.Decision != shipgate.DecisionApprove {
			return fail("approval %d has decision %q", a.ID, a.Decision)
		}
		if a.Digest != p.Release.Digest {
			return fail("approval %d by %s is of digest %s, not the release's %s", a.ID, a.Actor, a.Digest, p.Release.Digest)
		}
		if !approvals[approvalKey{a.ID, a.Actor, action, a.Digest}] {
			return fail("approval %d (%s %s) is not backed by a %s event of the bundle's audit chain", a.ID, a.Actor, a.Decision, action)
		}
	}
	for _, pd := range p.PolicyDecisions {
		if !decisions[decisionKey{pd.ID, shipgate.ReleaseSubject(pd.ReleaseID), pd.Actor, pd.Result, pd.BundleDigest, pd.InputDigest, pd.ResultDigest}] {
			return fail("policy decision %d (%s: %s) is not backed by a %s event of the bundle's audit chain", pd.ID, pd.Point, pd.Result, shipgate.ActionPolicyDecided)
		}
	}
	for _, c := range p.Checklist {
		if t := c.Tick; t != nil && !ticks[tickKey{t.Actor, t.Item, t.Link}] {
			return fail("the tick of checklist item %q by %s is not backed by a %s event of the bundle's audit chain", t.Item, t.Actor, shipgate.ActionChecklistTicked)
		}
	}
	for _, e := range p.Evidence {
		if !evidence[evidenceKey{e.ID, e.Type, e.Name, e.SHA256}] {
			return fail("evidence %d (%s %q, sha256 %s) is not backed by an %s event of the bundle's audit chain", e.ID, e.Type, e.Name, e.SHA256, shipgate.ActionEvidenceAdded)
		}
	}
	return nil
}
