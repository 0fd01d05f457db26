package decide

import (
	"slices"
	"strings"
)

// Diagram renders the transitions of entity e in Transitions as a Mermaid
// stateDiagram-v2, so the state diagrams in docs/architecture.md are drawn
// from the table the decider uses rather than by hand
// (TestArchitectureDocMatchesTable). Each edge is labelled with its
// trigger; transitions between the same two states that differ only in
// their note share one edge whose label joins their triggers with ", ".
// Edges come in table order, so the output is stable.
func Diagram(e Entity) string {
	type edge struct {
		from, to string
		on       []string
	}
	var edges []*edge
	for _, t := range Transitions {
		if t.Entity != e {
			continue
		}
		i := slices.IndexFunc(edges, func(x *edge) bool { return x.from == t.From && x.to == t.To })
		if i < 0 {
			edges = append(edges, &edge{from: t.From, to: t.To})
			i = len(edges) - 1
		}
		if !slices.Contains(edges[i].on, string(t.On)) {
			edges[i].on = append(edges[i].on, string(t.On))
		}
	}
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	for _, x := range edges {
		b.WriteString("    " + diagramState(x.from) + " --> " + diagramState(x.to) + " : " + strings.Join(x.on, ", ") + "\n")
	}
	return b.String()
}

// diagramState names a state in a diagram: [*] for one that does not
// exist yet.
func diagramState(s string) string {
	if s == None {
		return "[*]"
	}
	return s
}
