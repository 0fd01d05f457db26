package webui

// Each page file adds its routes here; the stubs keep the build whole
// while a page is being written.

func (s *Server) releasePageRoutes() []route { return nil }
func (s *Server) rolloutRoutes() []route     { return nil }
func (s *Server) auditRoutes() []route       { return nil }
func (s *Server) serviceRoutes() []route     { return nil }
func (s *Server) agentRoutes() []route       { return nil }
