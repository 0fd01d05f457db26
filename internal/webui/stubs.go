package webui

import "github.com/shipgate/shipgate/client"

// Each page file adds its routes here; the stubs keep the build whole
// while a page is being written. When a file takes over a function, it
// deletes the stub.

func (s *Server) rolloutRoutes() []route { return nil } // rollout.go

// rolloutSection (rollout.go) is the data of template "rollout"
// (templates/_rollout.html), the rollout view on a release page; nil when
// the release has no rollout.
func (s *Server) rolloutSection(c *call, v *client.ReleaseView) (any, error) { return nil, nil }

// jobLogsSection (logs.go) is the data of template "joblogs"
// (templates/_logs.html), the jobs' logs on a release page.
func (s *Server) jobLogsSection(c *call, v *client.ReleaseView) (any, error) { return nil, nil }
