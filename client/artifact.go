package client

import (
	"context"

	"github.com/shipgate/shipgate"
)

// ArtifactGCRequest asks the server to remove stored artifacts no release
// can still need.
type ArtifactGCRequest struct {
	// DryRun reports what would be removed and removes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Grace keeps artifacts stored more recently than this (a Go duration,
	// e.g. "1h"); empty means the server's default of one hour.
	Grace string `json:"grace,omitempty"`
}

// ArtifactGCResult is what a gc removed (or, on a dry run, would remove)
// and what it kept.
type ArtifactGCResult struct {
	DryRun     bool                      `json:"dry_run"`
	Grace      string                    `json:"grace"`
	Removed    []shipgate.StoredArtifact `json:"removed"`
	FreedBytes int64                     `json:"freed_bytes"`
	Kept       int                       `json:"kept"`
	KeptBytes  int64                     `json:"kept_bytes"`
	// StaleTempFiles counts leftovers of interrupted writes removed.
	StaleTempFiles int `json:"stale_temp_files,omitempty"`
}

// Artifacts lists the server's stored artifacts, newest first, with the
// releases that pin each and whether gc would keep it.
func (c *Client) Artifacts(ctx context.Context) ([]shipgate.StoredArtifact, error) {
	var out []shipgate.StoredArtifact
	return out, c.do(ctx, "GET", "/artifacts", nil, nil, &out)
}

// CollectArtifacts runs the artifact gc (admin).
func (c *Client) CollectArtifacts(ctx context.Context, req ArtifactGCRequest) (*ArtifactGCResult, error) {
	var out ArtifactGCResult
	return &out, c.do(ctx, "POST", "/artifacts/gc", nil, req, &out)
}
