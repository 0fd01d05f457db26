package client

import (
	"context"
	"encoding/json"
)

// ReleaseBundle returns the signed evidence bundle of release id as the
// server wrote it, byte for byte (a DSSE envelope and a newline, see
// internal/bundle): the bytes to keep and to give `shipgate verify-bundle`.
func (c *Client) ReleaseBundle(ctx context.Context, id int64) ([]byte, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/releases/"+itoa(id)+"/bundle", nil, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}
