package client

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/shipgate/shipgate"
)

// TickRequest ticks a manual checklist item with its evidence link.
type TickRequest struct {
	Item    string `json:"item"`
	Link    string `json:"link"`
	Comment string `json:"comment,omitempty"`
}

// FreezeRequest creates a freeze: of Environment (or, with All, every
// environment), of Service or every service, from From to To.
type FreezeRequest struct {
	Service     string    `json:"service,omitempty"`
	Environment string    `json:"environment,omitempty"`
	All         bool      `json:"all,omitempty"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Reason      string    `json:"reason"`
}

// OverrideRequest asks for an emergency override of the freezes holding a
// release.
type OverrideRequest struct {
	Reason string `json:"reason"`
}

// TickChecklist ticks item of release id's checklist.
func (c *Client) TickChecklist(ctx context.Context, id int64, req TickRequest) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/checklist/tick", id), nil, req, &out)
}

// CreateFreeze creates a freeze.
func (c *Client) CreateFreeze(ctx context.Context, req FreezeRequest) (*shipgate.Freeze, error) {
	var out shipgate.Freeze
	return &out, c.do(ctx, "POST", "/freezes", nil, req, &out)
}

// ListFreezes lists current and future freezes; all adds ended and past
// ones.
func (c *Client) ListFreezes(ctx context.Context, all bool) ([]shipgate.Freeze, error) {
	var out []shipgate.Freeze
	q := url.Values{}
	if all {
		q.Set("all", "true")
	}
	return out, c.do(ctx, "GET", "/freezes", q, nil, &out)
}

// EndFreeze ends freeze id now.
func (c *Client) EndFreeze(ctx context.Context, id int64) (*shipgate.Freeze, error) {
	var out shipgate.Freeze
	return &out, c.do(ctx, "POST", fmt.Sprintf("/freezes/%d/end", id), nil, struct{}{}, &out)
}

// RequestFreezeOverride asks for an emergency override for release id.
func (c *Client) RequestFreezeOverride(ctx context.Context, id int64, reason string) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/freeze-override", id), nil, OverrideRequest{Reason: reason}, &out)
}

// ApproveFreezeOverride approves release id's requested override.
func (c *Client) ApproveFreezeOverride(ctx context.Context, id int64) (*ReleaseView, error) {
	var out ReleaseView
	return &out, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/freeze-override/approve", id), nil, struct{}{}, &out)
}
