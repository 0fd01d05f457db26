package webui

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shipgate/shipgate"
)

// A release's frozen pipeline drawn as a DAG: jobs in columns by depth
// (a job stands one column right of the deepest job it needs), edges from
// each need to its job. The server lays it out and the template writes
// it as inline SVG, so it needs no script; a text list of the same jobs
// and needs goes beside it for readers who cannot see the picture.

// DAG geometry, in SVG user units.
const (
	dagNodeW = 168
	dagNodeH = 44
	dagColW  = 216
	dagRowH  = 62
	dagPad   = 10
)

// dagView is a laid-out pipeline.
type dagView struct {
	Width, Height int
	Nodes         []dagNode
	Edges         []dagEdge
}

// dagNode is one job: its box, what it is, and its state in the current
// run ("" before the release runs).
type dagNode struct {
	Name      string
	X, Y      int
	TextX     int
	Kind      string // "steps", "check", "service"
	Needs     []string
	State     string
	Attempt   int
	Detail    string // steps / check / service summary for the text list
	Retries   int
	Timeout   string
	StateText string // symbol and words of State, for the picture
}

// dagEdge is a need: a cubic curve from the needed job's right edge to the
// needing job's left edge.
type dagEdge struct {
	From, To string
	Path     string
}

// layoutDAG lays out p. jobs, if any, are the jobs of the current run,
// whose states the nodes show. A pipeline with a needs cycle cannot be
// applied; should one appear anyway, its jobs are placed in column 0
// rather than looping.
func layoutDAG(p shipgate.Pipeline, jobs []shipgate.JobRun) dagView {
	depth := map[string]int{}
	visiting := map[string]bool{}
	var level func(name string) int
	level = func(name string) int {
		if d, ok := depth[name]; ok {
			return d
		}
		if visiting[name] {
			return 0
		}
		visiting[name] = true
		d := 0
		if j, ok := p.Job(name); ok {
			for _, n := range j.Needs {
				if _, ok := p.Job(n); ok {
					d = max(d, level(n)+1)
				}
			}
		}
		visiting[name] = false
		depth[name] = d
		return d
	}
	state := map[string]shipgate.JobRun{}
	for _, j := range jobs {
		state[j.Name] = j
	}
	rows := map[int]int{}
	pos := map[string][2]int{}
	var v dagView
	maxCol, maxRow := 0, 0
	for _, j := range p.Jobs {
		col := level(j.Name)
		row := rows[col]
		rows[col]++
		x, y := dagPad+col*dagColW, dagPad+row*dagRowH
		pos[j.Name] = [2]int{x, y}
		maxCol, maxRow = max(maxCol, col), max(maxRow, row)
		n := dagNode{Name: j.Name, X: x, Y: y, TextX: x + dagNodeW/2, Needs: j.Needs, Retries: j.Retries, Kind: "steps"}
		switch {
		case j.Check != nil:
			n.Kind, n.Detail = "check", checkSummary(j.Check)
		case j.Service != nil:
			n.Kind, n.Detail = "service", "a supervised service"
			if j.Strategy != nil {
				n.Detail += ", rolled out by its strategy"
			}
		default:
			labels := make([]string, len(j.Steps))
			for i := range j.Steps {
				labels[i] = j.Steps[i].Label(i)
			}
			n.Detail = fmt.Sprintf("%d step(s): %s", len(j.Steps), strings.Join(labels, "; "))
		}
		if j.Timeout > 0 {
			n.Timeout = j.Timeout.Std().String()
		}
		if run, ok := state[j.Name]; ok {
			n.State, n.Attempt = string(run.State), run.Attempt
			n.StateText = strings.TrimSpace(stateWords[n.State] + " " + strings.ReplaceAll(n.State, "_", " "))
		}
		v.Nodes = append(v.Nodes, n)
	}
	for _, j := range p.Jobs {
		to := pos[j.Name]
		for _, need := range j.Needs {
			from, ok := pos[need]
			if !ok {
				continue
			}
			x1, y1 := from[0]+dagNodeW, from[1]+dagNodeH/2
			x2, y2 := to[0], to[1]+dagNodeH/2
			mid := (x1 + x2) / 2
			v.Edges = append(v.Edges, dagEdge{From: need, To: j.Name, Path: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mid, y1, mid, y2, x2-2, y2)})
		}
	}
	sort.SliceStable(v.Edges, func(a, b int) bool { return v.Edges[a].To < v.Edges[b].To })
	if len(p.Jobs) > 0 {
		v.Width = 2*dagPad + maxCol*dagColW + dagNodeW
		v.Height = 2*dagPad + maxRow*dagRowH + dagNodeH
	}
	return v
}

// checkSummary says what a health check probes, in a few words.
func checkSummary(c *shipgate.Check) string {
	switch {
	case c.HTTP != nil:
		return "health check: HTTP " + c.HTTP.URL
	case c.TCP != nil:
		return "health check: TCP probe"
	case c.Command != nil:
		return "health check: a command"
	}
	return "health check"
}
