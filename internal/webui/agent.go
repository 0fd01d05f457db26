package webui

import (
	"net/http"
	"net/url"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The agents page: every agent's state in words and a symbol, its labels,
// version and last contact, the jobs each runner (the built-in one too)
// holds now; Drain and Take back for admins.

func (s *Server) agentRoutes() []route {
	return []route{
		{"GET /agents", s.agentsPage},
		{"POST /agents/{name}/drain", s.drainAgent},
	}
}

type agentRow struct {
	*shipgate.Agent
	Jobs []client.RunningJob
}

type agentsData struct {
	Agents   []agentRow
	Local    *shipgate.RunnerInfo
	LocalJob []client.RunningJob
	// Other are jobs held by runners that are neither a listed agent nor
	// the built-in runner (another server's built-in runner).
	Other    []client.RunningJob
	CanDrain bool
}

func (agentsData) PageTitle() string { return "Agents" }

func (s *Server) agentsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	var agents []*shipgate.Agent
	if err := c.API("GET", "/api/v1/agents", nil, &agents); err != nil {
		return err
	}
	var run client.Runners
	if err := c.API("GET", "/api/v1/runners", nil, &run); err != nil {
		return err
	}
	d := agentsData{Local: run.Local, CanDrain: c.Can(string(shipgate.PermAdmin))}
	byName := map[string]int{}
	for i, a := range agents {
		byName[a.Name] = i
		d.Agents = append(d.Agents, agentRow{Agent: a})
	}
	for _, j := range run.Running {
		switch i, ok := byName[j.Runner]; {
		case ok:
			d.Agents[i].Jobs = append(d.Agents[i].Jobs, j)
		case run.Local != nil && j.Runner == run.Local.Name:
			d.LocalJob = append(d.LocalJob, j)
		default:
			d.Other = append(d.Other, j)
		}
	}
	s.render(w, r, c, http.StatusOK, "agents", d)
	return nil
}

// drainAgent drains an agent (form field draining=true) or takes it back
// (draining=false) through the API, which allows it to admins only and
// audits both the change and a refusal.
func (s *Server) drainAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	var draining bool
	switch v := r.PostForm.Get("draining"); v {
	case "true":
		draining = true
	case "false":
	default:
		return shipgate.Errorf(shipgate.EINVALID, "draining must be true (drain) or false (take back), not %q", v)
	}
	name := r.PathValue("name")
	if err := c.API("POST", "/api/v1/agents/"+url.PathEscape(name)+"/drain", client.DrainRequest{Draining: draining}, nil); err != nil {
		return err
	}
	return redirect(w, r, "/agents#agent-"+url.PathEscape(name))
}
