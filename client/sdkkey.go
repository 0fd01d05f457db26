package client

import (
	"context"
	"net/url"

	"github.com/shipgate/shipgate"
)

// CreateSDKKeyRequest makes an SDK key for one environment's flags.
type CreateSDKKeyRequest struct {
	Environment string `json:"environment"`
	// Name tells keys apart ("checkout web app"); empty is the
	// environment's name.
	Name string `json:"name,omitempty"`
}

// NewSDKKey is a freshly made SDK key and its secret, shown once.
type NewSDKKey struct {
	Key    *shipgate.SDKKey `json:"key"`
	Secret string           `json:"secret"`
}

// RevokeSDKKeyRequest revokes an SDK key.
type RevokeSDKKeyRequest struct {
	Reason string `json:"reason,omitempty"`
}

// SDKKeys lists SDK keys, revoked ones too; env "" lists every
// environment's.
func (c *Client) SDKKeys(ctx context.Context, env string) ([]shipgate.SDKKey, error) {
	var out []shipgate.SDKKey
	q := url.Values{}
	if env != "" {
		q.Set("environment", env)
	}
	return out, c.do(ctx, "GET", "/sdk-keys", q, nil, &out)
}

// CreateSDKKey makes an SDK key; the secret is in the result only.
func (c *Client) CreateSDKKey(ctx context.Context, req CreateSDKKeyRequest) (*NewSDKKey, error) {
	var out NewSDKKey
	return &out, c.do(ctx, "POST", "/sdk-keys", nil, req, &out)
}

// RevokeSDKKey revokes an SDK key for good: OFREP requests presenting it
// are refused from then on.
func (c *Client) RevokeSDKKey(ctx context.Context, id int64, reason string) (*shipgate.SDKKey, error) {
	var out shipgate.SDKKey
	return &out, c.do(ctx, "POST", "/sdk-keys/"+itoa(id)+"/revoke", nil, RevokeSDKKeyRequest{Reason: reason}, &out)
}
