package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/shipgate/shipgate"
)

// Apply sends a service file; the server parses and validates it.
func (c *Client) Apply(ctx context.Context, filename string, source []byte) (*ApplyResult, error) {
	return c.ApplyFile(ctx, ApplyRequest{Filename: filename, Source: string(source)})
}

// ApplyFile is Apply with every option of the request.
func (c *Client) ApplyFile(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	var out ApplyResult
	err := c.do(ctx, "POST", "/services", nil, req, &out)
	return &out, err
}

// Services lists services.
func (c *Client) Services(ctx context.Context) ([]*shipgate.Service, error) {
	var out []*shipgate.Service
	return out, c.do(ctx, "GET", "/services", nil, nil, &out)
}

// Service returns one service.
func (c *Client) Service(ctx context.Context, name string) (*shipgate.Service, error) {
	var out shipgate.Service
	return &out, c.do(ctx, "GET", "/services/"+url.PathEscape(name), nil, nil, &out)
}

// ServiceRevisions lists a service's history, newest first.
func (c *Client) ServiceRevisions(ctx context.Context, name string) ([]shipgate.ServiceRevision, error) {
	var out []shipgate.ServiceRevision
	return out, c.do(ctx, "GET", "/services/"+url.PathEscape(name)+"/revisions", nil, nil, &out)
}

// ServiceRevision returns one revision with its source.
func (c *Client) ServiceRevision(ctx context.Context, name string, rev int) (*shipgate.ServiceRevision, error) {
	var out shipgate.ServiceRevision
	return &out, c.do(ctx, "GET", "/services/"+url.PathEscape(name)+"/revisions/"+strconv.Itoa(rev), nil, nil, &out)
}
