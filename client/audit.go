package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
)

// Audit returns a page of audit events after seq.
func (c *Client) Audit(ctx context.Context, f shipgate.AuditFilter) (*AuditPage, error) {
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
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out AuditPage
	return &out, c.do(ctx, "GET", "/audit", q, nil, &out)
}

// EachAuditEvent calls fn for every event matching f, in seq order, paging
// through the log. It stops at the first error from fn.
func (c *Client) EachAuditEvent(ctx context.Context, f shipgate.AuditFilter, fn func(e *shipgate.AuditEvent) error) (headSeq int64, headHash string, err error) {
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
	var v shipgate.AuditVerifier
	headSeq, headHash, err := c.EachAuditEvent(ctx, shipgate.AuditFilter{}, v.Add)
	if err != nil {
		return v.Count(), err
	}
	return v.Count(), v.Finish(headSeq, headHash)
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
