package client

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
)

// Audit returns a page of audit events after seq.
func (c *Client) Audit(ctx context.Context, f shipgate.AuditFilter) (*AuditPage, error) {
	q := auditQuery(f)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Newest {
		q.Set("order", "desc")
		if f.BeforeSeq > 0 {
			q.Set("before", itoa(f.BeforeSeq))
		}
	}
	var out AuditPage
	return &out, c.do(ctx, "GET", "/audit", q, nil, &out)
}

// EachAuditEvent calls fn for every event matching f, in seq order, up to
// the head the server read first. It streams the log (GET /audit/stream)
// and pages through it on a server from before the stream. It stops at
// the first error from fn. fn may keep the event.
func (c *Client) EachAuditEvent(ctx context.Context, f shipgate.AuditFilter, fn func(e *shipgate.AuditEvent) error) (headSeq int64, headHash string, err error) {
	return c.eachAuditEvent(ctx, f, func(e *shipgate.AuditEvent) error {
		kept := *e
		kept.Details = slices.Clone(e.Details)
		return fn(&kept)
	})
}

// eachAuditEvent is EachAuditEvent whose fn gets an event reused for the
// next one.
func (c *Client) eachAuditEvent(ctx context.Context, f shipgate.AuditFilter, fn func(e *shipgate.AuditEvent) error) (headSeq int64, headHash string, err error) {
	headSeq, headHash, err = c.streamAudit(ctx, f, fn)
	if err != errNoAuditStream {
		return headSeq, headHash, err
	}
	return c.pageAudit(ctx, f, fn)
}

// pageAudit reads the log page by page (GET /audit), for servers without
// the stream.
func (c *Client) pageAudit(ctx context.Context, f shipgate.AuditFilter, fn func(e *shipgate.AuditEvent) error) (headSeq int64, headHash string, err error) {
	f.Limit = 5000
	first := true
	for {
		page, err := c.Audit(ctx, f)
		if err != nil {
			return 0, "", err
		}
		if first {
			headSeq, headHash, first = page.Head.Seq, page.Head.Hash, false
		}
		for i := range page.Events {
			e := &page.Events[i]
			if e.Seq > headSeq {
				return headSeq, headHash, nil
			}
			if err := fn(e); err != nil {
				return headSeq, headHash, err
			}
			f.AfterSeq = e.Seq
		}
		if len(page.Events) < f.Limit {
			return headSeq, headHash, nil
		}
	}
}

// VerifyAudit fetches the whole chain and recomputes it on this side, so
// the check does not depend on trusting the server's own verdict. It
// returns how many events were verified.
func (c *Client) VerifyAudit(ctx context.Context) (int64, error) {
	r, err := c.VerifyAuditAnchored(ctx, nil, nil)
	return r.Events, err
}

// VerifyAuditAnchored is VerifyAudit that also holds the chain to
// checkpoints kept outside the server, each of which must be signed by
// one of keys (recorded out of band, never fetched from the server being
// checked). It returns the head it verified, to be recorded elsewhere.
func (c *Client) VerifyAuditAnchored(ctx context.Context, keys []shipgate.AuditPublicKey, checkpoints []shipgate.AuditCheckpoint) (shipgate.AuditVerification, error) {
	return c.VerifyAuditProgress(ctx, keys, checkpoints, 0, nil)
}

// VerifyAuditProgress is VerifyAuditAnchored that calls progress after
// every `every` events verified (never when every ≤ 0 or progress is nil),
// for a person watching a long chain.
func (c *Client) VerifyAuditProgress(ctx context.Context, keys []shipgate.AuditPublicKey, checkpoints []shipgate.AuditCheckpoint, every int64, progress func(shipgate.AuditVerification)) (shipgate.AuditVerification, error) {
	var v shipgate.AuditVerifier
	if len(checkpoints) > 0 {
		if err := v.Anchor(keys, checkpoints); err != nil {
			return v.Verification(), err
		}
	}
	add := v.Add
	if every > 0 && progress != nil {
		add = func(e *shipgate.AuditEvent) error {
			if err := v.Add(e); err != nil {
				return err
			}
			if v.Count()%every == 0 {
				progress(v.Verification())
			}
			return nil
		}
	}
	headSeq, headHash, err := c.eachAuditEvent(ctx, shipgate.AuditFilter{}, add)
	if err != nil {
		return v.Verification(), err
	}
	return v.Verification(), v.Finish(headSeq, headHash)
}

// AuditPublicKey returns the key the server signs checkpoints with. Record
// it out of band when you install the server: a key fetched later from a
// server you are checking proves nothing.
func (c *Client) AuditPublicKey(ctx context.Context) (*AuditPublicKey, error) {
	var out AuditPublicKey
	return &out, c.do(ctx, "GET", "/audit/public-key", nil, nil, &out)
}

// AuditCheckpoint has the server sign its current audit head (or return
// the checkpoint of it, if it has not moved) and returns it.
func (c *Client) AuditCheckpoint(ctx context.Context) (*shipgate.AuditCheckpoint, error) {
	var out shipgate.AuditCheckpoint
	return &out, c.do(ctx, "POST", "/audit/checkpoints", nil, nil, &out)
}

// LatestAuditCheckpoint returns the newest checkpoint the server stored
// (not_found when none was signed yet). Verify it with a public key you
// recorded out of band.
func (c *Client) LatestAuditCheckpoint(ctx context.Context) (*shipgate.AuditCheckpoint, error) {
	var out shipgate.AuditCheckpoint
	return &out, c.do(ctx, "GET", "/audit/checkpoints/latest", nil, nil, &out)
}

// Notifications lists notifications, newest first; state "" means all.
func (c *Client) Notifications(ctx context.Context, state string) ([]Notification, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	var out []Notification
	return out, c.do(ctx, "GET", "/notifications", q, nil, &out)
}

// auditQuery is the query of f that the audit page and the audit stream
// both take: after, release, since, until, actor, subject, action.
func auditQuery(f shipgate.AuditFilter) url.Values {
	q := url.Values{}
	if f.AfterSeq > 0 {
		q.Set("after", itoa(f.AfterSeq))
	}
	if f.ReleaseID > 0 {
		q.Set("release", itoa(f.ReleaseID))
	}
	if f.Since != nil {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if f.Until != nil {
		q.Set("until", f.Until.UTC().Format(time.RFC3339))
	}
	for k, v := range map[string]string{"actor": f.Actor, "subject": f.Subject, "action": f.ActionPrefix} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}
