package decide

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated sections of docs/architecture.md from the transition table")

const architectureDoc = "../../docs/architecture.md"

// docEntities are the entities docs/architecture.md draws, in its order.
var docEntities = []Entity{EntityRelease, EntityRollback, EntityJob, EntityApproval, EntityRollout}

// The state diagrams and the transition table in docs/architecture.md are
// generated from Transitions; a change to either alone fails here.
func TestArchitectureDocMatchesTable(t *testing.T) {
	raw, err := os.ReadFile(architectureDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if !strings.Contains(doc, "\n## State transitions (generated)\n") {
		t.Fatalf("%s has no section \"## State transitions (generated)\"", architectureDoc)
	}
	blocks := map[string]string{"table": transitionTable()}
	for _, e := range docEntities {
		blocks[string(e)] = "```mermaid\n" + Diagram(e) + "```\n"
	}
	var names []string
	for _, e := range docEntities {
		names = append(names, string(e))
	}
	names = append(names, "table")
	var stale []string
	for _, name := range names {
		begin, end := "<!-- generated:decide:"+name+" -->\n", "<!-- end generated:decide:"+name+" -->\n"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i || strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
			t.Fatalf("%s needs exactly one pair of markers %q … %q", architectureDoc, strings.TrimSpace(begin), strings.TrimSpace(end))
		}
		i += len(begin)
		if doc[i:j] != blocks[name] {
			stale = append(stale, name)
			doc = doc[:i] + blocks[name] + doc[j:]
		}
	}
	if len(stale) == 0 {
		return
	}
	if *update {
		if err := os.WriteFile(architectureDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s: %s", architectureDoc, strings.Join(stale, ", "))
		return
	}
	t.Errorf("%s disagrees with the transition table (internal/decide/table.go) in: %s\nregenerate it with: go test ./internal/decide -run TestArchitectureDocMatchesTable -update",
		architectureDoc, strings.Join(stale, ", "))
}

// Every entity of the table is drawn in the doc.
func TestDocEntitiesCoverTable(t *testing.T) {
	for _, tr := range Transitions {
		if !slices.Contains(docEntities, tr.Entity) {
			t.Errorf("entity %s has transitions but no diagram in %s: add it to docEntities", tr.Entity, architectureDoc)
		}
	}
}

func TestDiagram(t *testing.T) {
	if got, want := Diagram(EntityApproval), "stateDiagram-v2\n    [*] --> given : approve\n    given --> expired : approval_expiry\n"; got != want {
		t.Errorf("approval diagram:\n%s\nwant:\n%s", got, want)
	}
	// Self-loops are drawn.
	if got := Diagram(EntityRollout); got != "stateDiagram-v2\n    paused --> paused : promote\n" {
		t.Errorf("rollout diagram:\n%s", got)
	}
	rb := Diagram(EntityRollback)
	// Transitions that differ only in their note share an edge, triggers
	// joined in table order.
	for _, line := range []string{
		"    pending --> called_off : check_recovered, superseded, called_off_by_person\n",
		"    held --> called_off : superseded, rerun, called_off_by_person\n",
		"    pending --> pending : rollback_now\n",
	} {
		if strings.Count(rb, line) != 1 {
			t.Errorf("rollback diagram lacks %q once:\n%s", line, rb)
		}
	}
	// Edges come in the table's order: the first listed rollback
	// transition is the first edge.
	first := Transitions[slices.IndexFunc(Transitions, func(tr Transition) bool { return tr.Entity == EntityRollback })]
	if want := fmt.Sprintf("stateDiagram-v2\n    [*] --> %s : %s\n", first.To, first.On); !strings.HasPrefix(rb, want) {
		t.Errorf("rollback diagram does not start with %q:\n%s", want, rb)
	}
	if Diagram(EntityRelease) != Diagram(EntityRelease) {
		t.Error("diagram not deterministic")
	}
	if got := Diagram("nothing"); got != "stateDiagram-v2\n" {
		t.Errorf("unknown entity: %q", got)
	}
	// Every transition of the table is on an edge of its entity.
	for _, tr := range Transitions {
		d := Diagram(tr.Entity)
		from, to := diagramState(tr.From), diagramState(tr.To)
		found := false
		for _, line := range strings.Split(d, "\n") {
			head, label, ok := strings.Cut(strings.TrimSpace(line), " : ")
			if ok && head == from+" --> "+to && slices.Contains(strings.Split(label, ", "), string(tr.On)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s %s → %s on %s is not drawn", tr.Entity, tr.From, tr.To, tr.On)
		}
	}
}

// transitionTable renders every transition as a Markdown table.
func transitionTable() string {
	var b strings.Builder
	b.WriteString("| entity | from | to | trigger | audit events | note |\n|---|---|---|---|---|---|\n")
	for _, tr := range Transitions {
		from := tr.From
		if from == None {
			from = "(new)"
		}
		events := "—"
		if len(tr.Events) > 0 {
			events = "`" + strings.Join(tr.Events, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", tr.Entity, from, tr.To, tr.On, events, strings.ReplaceAll(tr.Note, "|", `\|`))
	}
	return b.String()
}
