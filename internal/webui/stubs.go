package webui

// Each page file adds its routes here; the stubs keep the build whole
// while a page is being written. When a file takes over a function, it
// deletes the stub.

func (s *Server) releasePageRoutes() []route { return nil } // release.go
func (s *Server) auditRoutes() []route       { return nil } // audit.go
func (s *Server) serviceRoutes() []route     { return nil } // service.go
func (s *Server) agentRoutes() []route       { return nil } // agent.go
