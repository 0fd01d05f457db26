package shipgate

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A checklist is the short list of things an environment asks of every
// release before it is approved or started (the service file's
// environments[].checklist). Each item is automated — a condition over the
// release's evidence (EvidenceInput), re-evaluated whenever asked, since
// evidence may arrive after the release — or manual: ticked, with an
// evidence link, by a member of the item's owner group.

// Checklist gates: when an item must hold.
const (
	GateApprove = "approve" // the release cannot be approved before
	GateStart   = "start"   // the release cannot start before
)

// ManualEvidenceLink is the only evidence a manual item takes (and its
// default): a link given when the item is ticked.
const ManualEvidenceLink = "link required"

// Checklist limits: the seed's advice (a warning), and hard bounds.
const (
	ChecklistAdvisedItems = 10
	maxChecklistItems     = 50
	maxChecklistName      = 100
	maxConditionLen       = 500
	// MaxTickLinkLen bounds the evidence link of a tick.
	MaxTickLinkLen = 2048
)

// Audit actions of checklists.
const (
	ActionChecklistTicked = "checklist.ticked"
)

// ChecklistItem is one item of an environment's checklist.
type ChecklistItem struct {
	Name string `json:"name"`
	// Gate is GateApprove (the default, stored as "") or GateStart.
	Gate      string          `json:"gate,omitempty"`
	Automated *AutomatedCheck `json:"automated,omitempty"`
	Manual    *ManualCheck    `json:"manual,omitempty"`
}

// AutomatedCheck holds when its evidence condition does (see
// ParseCondition).
type AutomatedCheck struct {
	Evidence string `json:"evidence"`
}

// ManualCheck is ticked by a member of Owner with an evidence link.
type ManualCheck struct {
	Owner    string `json:"owner"`
	Evidence string `json:"evidence,omitempty"`
}

// GateOf returns the item's gate, GateApprove by default.
func (c *ChecklistItem) GateOf() string {
	if c.Gate == "" {
		return GateApprove
	}
	return c.Gate
}

// validateChecklist adds the problems of an environment's checklist.
func (v *validator) checklist(p string, items []ChecklistItem) {
	if len(items) > maxChecklistItems {
		v.add(p, "a checklist may have at most %d items, not %d (the advice is %d or fewer)", maxChecklistItems, len(items), ChecklistAdvisedItems)
	}
	seen := map[string]bool{}
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, i)
		if err := ValidateLine("checklist item name", it.Name, maxChecklistName); err != nil || strings.TrimSpace(it.Name) == "" {
			v.add(ip+".name", "a checklist item needs a name of one line, at most %d bytes", maxChecklistName)
		}
		if seen[it.Name] {
			v.add(ip+".name", "checklist item %q is listed twice", it.Name)
		}
		seen[it.Name] = true
		if it.Gate != "" && it.Gate != GateApprove && it.Gate != GateStart {
			v.add(ip+".gate", "gate %q is not known (use approve or start)", it.Gate)
		}
		switch {
		case it.Automated == nil && it.Manual == nil:
			v.add(ip, "checklist item %q needs automated or manual", it.Name)
		case it.Automated != nil && it.Manual != nil:
			v.add(ip, "checklist item %q is either automated or manual, not both", it.Name)
		case it.Automated != nil:
			if _, err := ParseCondition(it.Automated.Evidence); err != nil {
				v.add(ip+".automated.evidence", "%s", err.Error())
			}
		default:
			if !validName(it.Manual.Owner) {
				v.add(ip+".manual.owner", "a manual item needs an owner group; %q is not a valid group name", it.Manual.Owner)
			}
			if e := it.Manual.Evidence; e != "" && e != ManualEvidenceLink {
				v.add(ip+".manual.evidence", "evidence %q is not known (use %q)", e, ManualEvidenceLink)
			}
		}
	}
}

// ChecklistWarnings lists the environments whose checklist is longer than
// the advice: a long checklist is one nobody reads.
func (s *ServiceSpec) ChecklistWarnings() []FieldError {
	var out []FieldError
	for i, e := range s.Environments {
		if len(e.Checklist) > ChecklistAdvisedItems {
			out = append(out, FieldError{Path: fmt.Sprintf("spec.environments[%d].checklist", i),
				Message: fmt.Sprintf("the checklist of %s has %d items; more than %d is a list nobody reads: automate or drop some", e.Name, len(e.Checklist), ChecklistAdvisedItems)})
		}
	}
	return out
}

// ChecklistTick is a person's tick of a manual item, with its evidence.
type ChecklistTick struct {
	ReleaseID int64     `json:"release_id"`
	Item      string    `json:"item"`
	Actor     string    `json:"actor"`
	Link      string    `json:"link"`
	Comment   string    `json:"comment,omitempty"`
	At        time.Time `json:"at"`
}

// ChecklistItemState is an item of a release's checklist as evaluated now.
type ChecklistItemState struct {
	Name      string         `json:"name"`
	Gate      string         `json:"gate"`
	Kind      string         `json:"kind"` // "automated" or "manual"
	Condition string         `json:"condition,omitempty"`
	Owner     string         `json:"owner,omitempty"`
	Holds     bool           `json:"holds"`
	Why       string         `json:"why"`
	Tick      *ChecklistTick `json:"tick,omitempty"`
}

// EvaluateChecklist evaluates items against the release's evidence (as
// EvidenceInput gives it) and its ticks; the newest tick of an item counts.
func EvaluateChecklist(items []ChecklistItem, evidence map[string]any, ticks []ChecklistTick) []ChecklistItemState {
	out := make([]ChecklistItemState, 0, len(items))
	for _, it := range items {
		st := ChecklistItemState{Name: it.Name, Gate: it.GateOf()}
		if it.Automated != nil {
			st.Kind, st.Condition = "automated", it.Automated.Evidence
			c, err := ParseCondition(it.Automated.Evidence)
			if err != nil {
				st.Why = "condition does not parse: " + err.Error()
			} else {
				st.Holds, st.Why = c.Eval(evidence)
			}
		} else if it.Manual != nil {
			st.Kind, st.Owner = "manual", it.Manual.Owner
			for i := range ticks {
				if ticks[i].Item == it.Name && (st.Tick == nil || !ticks[i].At.Before(st.Tick.At)) {
					t := ticks[i]
					st.Tick = &t
				}
			}
			if st.Tick != nil {
				st.Holds, st.Why = true, fmt.Sprintf("ticked by %s at %s: %s", st.Tick.Actor, st.Tick.At.UTC().Format(time.RFC3339), st.Tick.Link)
			} else {
				st.Why = "not ticked yet; a member of " + it.Manual.Owner + " ticks it with an evidence link"
			}
		}
		out = append(out, st)
	}
	return out
}

// UnmetItems lists the items of states with gate that do not hold, as
// "name (why)".
func UnmetItems(states []ChecklistItemState, gate string) []string {
	var out []string
	for _, s := range states {
		if s.Gate == gate && !s.Holds {
			out = append(out, s.Name+" ("+s.Why+")")
		}
	}
	return out
}

// Condition is a parsed evidence condition. The grammar:
//
//	condition  = clause { "and" clause }
//	clause     = sum op sum | path "present" | path "verified"
//	sum        = term { "+" term }
//	term       = path | number
//	path       = name { "." name }     (names: letters, digits, '_', '-')
//	op         = "==" | "!=" | "<" | "<=" | ">" | ">="
//
// Paths read the evidence input: "coverage.line_percent" is the newest
// coverage evidence's line_percent. "sbom present" holds when the path
// exists; "signature verified" when path.verified is true.
type Condition struct {
	clauses []clause
}

type clause struct {
	left, right []string // terms of the sums; a path or a number each
	op          string   // comparison, or "present" / "verified"
}

// ParseCondition parses an evidence condition strictly.
func ParseCondition(s string) (*Condition, error) {
	if len(s) > maxConditionLen {
		return nil, fmt.Errorf("the condition is longer than %d bytes", maxConditionLen)
	}
	toks, err := lexCondition(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("the condition is empty; write one such as \"coverage.line_percent >= 80\" or \"sbom present\"")
	}
	c := &Condition{}
	for len(toks) > 0 {
		var cl clause
		var rest []string
		cl.left, rest, err = parseSum(toks)
		if err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			return nil, fmt.Errorf("%q needs a comparison (==, !=, <, <=, >, >=), present or verified after it", strings.Join(cl.left, " + "))
		}
		cl.op, rest = rest[0], rest[1:]
		switch cl.op {
		case "present", "verified":
			if len(cl.left) != 1 || isNumber(cl.left[0]) {
				return nil, fmt.Errorf("%s follows one evidence path, such as \"sbom %s\"", cl.op, cl.op)
			}
		case "==", "!=", "<", "<=", ">", ">=":
			cl.right, rest, err = parseSum(rest)
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%q is not a comparison (use ==, !=, <, <=, >, >=, present or verified)", cl.op)
		}
		c.clauses = append(c.clauses, cl)
		if len(rest) > 0 {
			if rest[0] != "and" {
				return nil, fmt.Errorf("unexpected %q; join conditions with \"and\"", rest[0])
			}
			rest = rest[1:]
			if len(rest) == 0 {
				return nil, fmt.Errorf("the condition ends after \"and\"")
			}
		}
		toks = rest
	}
	return c, nil
}

func parseSum(toks []string) ([]string, []string, error) {
	var terms []string
	for {
		if len(toks) == 0 {
			return nil, nil, fmt.Errorf("the condition ends where a path or a number is expected")
		}
		t := toks[0]
		if !isNumber(t) && !isPath(t) {
			return nil, nil, fmt.Errorf("%q is not an evidence path or a number", t)
		}
		terms, toks = append(terms, t), toks[1:]
		if len(toks) == 0 || toks[0] != "+" {
			return terms, toks, nil
		}
		toks = toks[1:]
	}
}

func lexCondition(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case strings.ContainsRune("=!<>", rune(c)):
			if i+1 < len(s) && s[i+1] == '=' {
				toks, i = append(toks, s[i:i+2]), i+2
			} else if c == '<' || c == '>' {
				toks, i = append(toks, s[i:i+1]), i+1
			} else {
				return nil, fmt.Errorf("%q at column %d is not an operator (use ==, !=, <, <=, >, >=)", string(c), i+1)
			}
		case c == '+':
			toks, i = append(toks, "+"), i+1
		case isWordByte(c) || c == '.':
			j := i
			for j < len(s) && (isWordByte(s[j]) || s[j] == '.') {
				j++
			}
			toks, i = append(toks, s[i:j]), j
		default:
			return nil, fmt.Errorf("%q at column %d is not allowed in a condition", string(c), i+1)
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isNumber(t string) bool {
	_, err := strconv.ParseFloat(t, 64)
	return err == nil && t[0] >= '0' && t[0] <= '9'
}

func isPath(t string) bool {
	if t == "and" || t == "present" || t == "verified" {
		return false
	}
	for _, part := range strings.Split(t, ".") {
		if part == "" || !(part[0] >= 'a' && part[0] <= 'z' || part[0] >= 'A' && part[0] <= 'Z' || part[0] == '_') {
			return false
		}
	}
	return true
}

// lookup finds a path in the evidence input.
func lookup(ev map[string]any, path string) (any, bool) {
	var cur any = ev
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	}
	return 0, false
}

func (c *Condition) sum(ev map[string]any, terms []string) (float64, string) {
	total := 0.0
	for _, t := range terms {
		if isNumber(t) {
			f, _ := strconv.ParseFloat(t, 64)
			total += f
			continue
		}
		v, ok := lookup(ev, t)
		if !ok {
			return 0, "no evidence gives " + t
		}
		f, ok := number(v)
		if !ok {
			return 0, fmt.Sprintf("%s is %v, not a number", t, v)
		}
		total += f
	}
	return total, ""
}

// Eval says whether the condition holds over the evidence input, and why
// (or why not) in a short sentence.
func (c *Condition) Eval(ev map[string]any) (bool, string) {
	var whys []string
	for _, cl := range c.clauses {
		path := cl.left[0]
		switch cl.op {
		case "present":
			if _, ok := lookup(ev, path); !ok {
				return false, "no " + path + " evidence"
			}
			whys = append(whys, path+" present")
			continue
		case "verified":
			v, ok := lookup(ev, path+".verified")
			if b, isBool := v.(bool); !ok || !isBool || !b {
				return false, path + " not verified"
			}
			whys = append(whys, path+" verified")
			continue
		}
		l, why := c.sum(ev, cl.left)
		if why != "" {
			return false, why
		}
		r, why := c.sum(ev, cl.right)
		if why != "" {
			return false, why
		}
		var ok bool
		switch cl.op {
		case "==":
			ok = l == r
		case "!=":
			ok = l != r
		case "<":
			ok = l < r
		case "<=":
			ok = l <= r
		case ">":
			ok = l > r
		case ">=":
			ok = l >= r
		}
		desc := fmt.Sprintf("%s is %s", strings.Join(cl.left, " + "), strconv.FormatFloat(l, 'f', -1, 64))
		if !ok {
			return false, fmt.Sprintf("%s, wanted %s %s", desc, cl.op, strconv.FormatFloat(r, 'f', -1, 64))
		}
		whys = append(whys, desc)
	}
	sort.Strings(whys)
	return true, strings.Join(whys, "; ")
}

// ValidateTickLink checks the evidence link of a tick: an absolute http(s)
// URL of one line.
func ValidateTickLink(link string) error {
	if link == "" {
		return Errorf(EINVALID, "a tick needs an evidence link (--link URL)")
	}
	if err := ValidateLine("link", link, MaxTickLinkLen); err != nil {
		return err
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return Errorf(EINVALID, "link %q is not an http(s) URL such as https://tickets.example.com/CHG-42", link)
	}
	return nil
}
