package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The release page: everything an approver needs to decide, on one page,
// and the actions people take on a release. Every action is a form that
// posts here and calls the API's route as the session's user; the API
// decides, audits, and refuses (its refusal is shown in words).

// releasePageRoutes: one release, its live stream, and its actions.
func (s *Server) releasePageRoutes() []route {
	return []route{
		{"GET /releases/{id}", s.releasePage},
		{"GET /releases/{id}/live", s.live(s.releaseLive)},
		{"GET /releases/{id}/bundle", s.releaseBundle},
		{"POST /releases/{id}/approve", s.releaseDecide(shipgate.DecisionApprove)},
		{"POST /releases/{id}/reject", s.releaseDecide(shipgate.DecisionReject)},
		{"POST /releases/{id}/cancel", s.releaseAction("cancel", "reason")},
		{"POST /releases/{id}/rerun", s.releaseAction("rerun", "")},
		{"POST /releases/{id}/rollback/hold", s.releaseAction("rollback/hold", "reason")},
		{"POST /releases/{id}/rollback/now", s.releaseAction("rollback/now", "reason")},
		{"POST /releases/{id}/rollback/call-off", s.releaseAction("rollback/call-off", "reason")},
	}
}

// releaseBundle downloads the release's signed evidence bundle (the API's
// GET /api/v1/releases/{id}/bundle, as `shipgate release bundle` writes
// it), for `shipgate verify-bundle FILE --public-key KEY`.
func (s *Server) releaseBundle(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	var raw []byte
	if err := c.API("GET", fmt.Sprintf("/api/v1/releases/%d/bundle", id), nil, &raw); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="release-%d.bundle.json"`, id))
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(raw)
	return err
}

// timelineShown bounds the events a page lists; the audit page has the
// rest.
const timelineShown = 100

// releasePage is the data of templates/release.html. The live sections
// (header, approvals, jobs, rollback, rollout, timeline) come from one
// ReleaseView, so the stream re-renders them from one API call.
type releasePage struct {
	V   *client.ReleaseView
	Now time.Time
	// Approval is the approvals section: the tally and what the reader
	// may do, by the API's own rules.
	Approval approvalView
	Rollback *rollbackView
	DAG      dagView
	Inputs   []inputRow
	Timeline []timelineRow
	// TimelineCut counts the older events left out of Timeline.
	TimelineCut int
	Rollout     any
	Logs        any
	// Gov is the governance sections (governance.go).
	Gov *governanceView
	// Only on the full page: what changes against what runs now, and
	// the link to the commit.
	Compare   *compareView
	CommitURL string
	// Flags are the flags the release declares (release create --flag)
	// with their live state (flag.go); FlagsProblem says why they could
	// not be read.
	Flags        *releaseFlagsView
	FlagsProblem string
	// Problem says why a part of the page could not be read.
	Problem string
}

func (p *releasePage) PageTitle() string {
	return fmt.Sprintf("Release %d · %s %s → %s", p.V.ID, p.V.Service, p.V.Version, p.V.Environment)
}

// approvalView is the approvals section.
type approvalView struct {
	Pending      bool
	Required     int
	Approvers    []string // whose approvals count now
	Need         int      // how many more are needed
	Decisions    []shipgate.Approval
	NextExpiry   *time.Time
	ExpiresAfter string
	// MayStill lists who may still approve, when the release knows
	// (frozen group membership); else MayStillText says who may.
	MayStill     []string
	MayStillText string
	CanApprove   bool
	ApproveWhy   string // why the reader may not approve, in words
	CanReject    bool
	RejectWhy    string
	YouApproved  *shipgate.Approval
}

// rollbackView is the rollback section.
type rollbackView struct {
	*shipgate.Rollback
	SecondsLeft int64 // until a pending rollback fires
	Waiting     bool  // pending: it fires on its own
	MayAct      bool  // the reader holds the rollback permission
}

// inputRow is one input with its declaration.
type inputRow struct {
	Name      string
	Value     string
	Given     bool
	Secret    bool
	Defaulted bool
	Decl      *shipgate.InputDecl
}

// timelineRow is one audit event for people.
type timelineRow struct {
	shipgate.AuditEvent
	Words   string
	Details []detail
}

type detail struct{ Key, Value string }

func releaseID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, shipgate.Errorf(shipgate.ENOTFOUND, "%q is not a release id", r.PathValue("id"))
	}
	return id, nil
}

// releaseView reads release id through the API.
func releaseView(c *call, id int64) (*client.ReleaseView, error) {
	var v client.ReleaseView
	if err := c.API("GET", "/api/v1/releases/"+strconv.FormatInt(id, 10), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// releaseOf reads the release a UI path names ({id}) through the API.
func releaseOf(r *http.Request, c *call) (*client.ReleaseView, error) {
	id, err := releaseID(r)
	if err != nil {
		return nil, err
	}
	return releaseView(c, id)
}

func (s *Server) releasePage(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	v, err := releaseView(c, id)
	if err != nil {
		return err
	}
	d, err := s.releaseDataGov(c, v)
	if err != nil {
		return err
	}
	if d.Compare, err = s.comparison(c, id); err != nil {
		return err
	}
	if d.Logs, err = s.jobLogsSection(c, v); err != nil {
		return err
	}
	d.CommitURL = s.commitURL(c, v)
	d.Flags, d.FlagsProblem = releaseFlags(r, c, v)
	s.render(w, r, c, http.StatusOK, "release", d)
	return nil
}

// commitURL links the release's commit when the service file it was
// created from names a repository; "" otherwise.
func (s *Server) commitURL(c *call, v *client.ReleaseView) string {
	if v.Source.Commit == "" {
		return ""
	}
	var rev shipgate.ServiceRevision
	path := fmt.Sprintf("/api/v1/services/%s/revisions/%d", url.PathEscape(v.Service), v.ServiceRevision)
	if err := c.API("GET", path, nil, &rev); err != nil || rev.Spec.Repository == "" {
		return ""
	}
	if shipgate.ValidateRepositoryURL(rev.Spec.Repository) != nil {
		return "" // applied before the rule, or edited in the database: no link
	}
	return strings.TrimSuffix(rev.Spec.Repository, "/") + "/commit/" + url.PathEscape(v.Source.Commit)
}

// releaseData builds the page's live parts from a release view.
func (s *Server) releaseData(c *call, v *client.ReleaseView) (*releasePage, error) {
	now := s.Now()
	d := &releasePage{V: v, Now: now, DAG: layoutDAG(v.Pipeline, v.Jobs)}
	d.Approval = approvals(c, v, now)
	if rb := v.Rollback; rb != nil {
		rv := &rollbackView{Rollback: rb, Waiting: rb.State == shipgate.RollbackPending, MayAct: c.Can(string(shipgate.PermRollback))}
		if rv.Waiting && rb.FiresAt != nil {
			rv.SecondsLeft = max(0, int64(rb.FiresAt.Sub(now).Seconds()+0.999))
		}
		d.Rollback = rv
	}
	d.Inputs = inputRows(v.Release)
	events := v.Timeline
	if len(events) > timelineShown {
		d.TimelineCut = len(events) - timelineShown
		events = events[len(events)-timelineShown:]
	}
	for _, e := range events {
		d.Timeline = append(d.Timeline, timelineRow{AuditEvent: e, Words: actionWords(e.Action), Details: details(e.Details)})
	}
	var err error
	if d.Rollout, err = s.rolloutSection(c, v); err != nil {
		return nil, err
	}
	return d, nil
}

// approvals works out the approvals section with the domain's own rules:
// the tally the API computed, CheckDecidable and CheckApprover for what
// the reader may do (the approve route runs the same), the frozen
// membership for who may still approve.
func approvals(c *call, v *client.ReleaseView, now time.Time) approvalView {
	r := v.Release
	p := r.Policy.Approvals
	a := approvalView{Pending: r.State == shipgate.StatePendingApproval, Required: p.Required, Decisions: v.Approvals}
	if p.ExpiresAfter > 0 {
		a.ExpiresAfter = p.ExpiresAfter.Std().String()
	}
	t := shipgate.TallyApprovals(p, v.Approvals, now)
	if v.Tally != nil {
		t = *v.Tally
	}
	a.Approvers, a.NextExpiry = t.Approvers, t.NextExpiry
	a.Need = max(0, p.Required-len(t.Approvers))
	view := r
	if len(p.FromGroups) > 0 && r.ApproverGroups == nil && v.LegacyApproverGroups != nil {
		cp := *r
		cp.ApproverGroups = v.LegacyApproverGroups
		view = &cp
	}
	if names, ok := view.FrozenApprovers(); ok {
		for _, n := range names {
			// Frozen members who lost the approver role, were disabled or
			// left the group may not approve: the API says who still may.
			if a.Pending && v.Tally != nil && !contains(v.MayApprove, n) {
				continue
			}
			if !contains(t.Approvers, n) {
				a.MayStill = append(a.MayStill, n)
			}
		}
		if len(a.MayStill) == 0 {
			a.MayStillText = "nobody else: every member who may approve it has approved"
		}
	} else {
		a.MayStillText = "any user with the approver role"
		if len(p.FromGroups) > 0 {
			a.MayStillText = "members of " + strings.Join(p.FromGroups, ", ") + " with the approver role"
		}
		if !p.AllowSelfApproval {
			a.MayStillText += ", except " + r.CreatedBy + " who created it"
		}
	}
	for i := range v.Approvals {
		ap := &v.Approvals[i]
		if ap.Actor == c.User.Name && ap.Counts(now) {
			a.YouApproved = ap
		}
	}
	decide := func(decision string) (bool, string) {
		if err := shipgate.CheckDecidable(r, decision); err != nil {
			return false, shipgate.ErrorMessage(err)
		}
		if err := shipgate.CheckApprover(view, c.User, decision); err != nil {
			return false, shipgate.ErrorMessage(err)
		}
		return true, ""
	}
	a.CanApprove, a.ApproveWhy = decide(shipgate.DecisionApprove)
	a.CanReject, a.RejectWhy = decide(shipgate.DecisionReject)
	return a
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// inputRows lists the release's inputs with their frozen declarations:
// declared ones in declaration order, then the undeclared ones by name.
// A secret's value is never on the page (the API does not hold it
// either: only its fingerprint).
func inputRows(r *shipgate.Release) []inputRow {
	var out []inputRow
	seen := map[string]bool{}
	add := func(name string, decl *shipgate.InputDecl) {
		seen[name] = true
		row := inputRow{Name: name, Decl: decl, Defaulted: contains(r.DefaultedInputs, name)}
		if val, ok := r.Inputs[name]; ok {
			row.Value, row.Given = val, true
		}
		if _, ok := r.SecretInputs[name]; ok {
			row.Secret, row.Given = true, true
		}
		if decl != nil && decl.Secret {
			row.Secret = true
		}
		out = append(out, row)
	}
	for i := range r.InputDeclarations {
		add(r.InputDeclarations[i].Name, &r.InputDeclarations[i])
	}
	var rest []string
	for n := range r.Inputs {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	for n := range r.SecretInputs {
		if !seen[n] && !contains(rest, n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		add(n, nil)
	}
	return out
}

// actionWords says an audit action in words: "release.approved" →
// "release approved".
func actionWords(a string) string {
	return strings.NewReplacer(".", " ", "_", " ").Replace(a)
}

// details flattens an event's JSON details into sorted key: value pairs,
// nested values as compact JSON.
func details(raw json.RawMessage) []detail {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		if len(raw) > 0 && string(raw) != "null" {
			return []detail{{"details", string(raw)}}
		}
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]detail, 0, len(keys))
	for _, k := range keys {
		var val string
		switch x := m[k].(type) {
		case string:
			val = x
		case nil:
			val = "–"
		default:
			b, _ := json.Marshal(x)
			val = string(b)
		}
		out = append(out, detail{strings.ReplaceAll(k, "_", " "), val})
	}
	return out
}

// releaseDecide approves or rejects the release with the digest the page
// showed: the API refuses a release that changed since, a reader who may
// not decide, a creator approving their own release; its refusal is the
// answer, in words and with its status.
func (s *Server) releaseDecide(decision string) func(w http.ResponseWriter, r *http.Request, c *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		id, err := releaseID(r)
		if err != nil {
			return err
		}
		req := client.DecisionRequest{Digest: r.PostFormValue("digest"), Comment: r.PostFormValue("comment")}
		if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/%s", id, decision), req, nil); err != nil {
			return err
		}
		return redirect(w, r, fmt.Sprintf("/releases/%d#approvals", id))
	}
}

// releaseAction posts one of the release's actions to the API (cancel,
// rerun, rollback hold, now, call-off), with the form's reason when the
// route takes one.
func (s *Server) releaseAction(action, reasonField string) func(w http.ResponseWriter, r *http.Request, c *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		id, err := releaseID(r)
		if err != nil {
			return err
		}
		var body any = struct{}{}
		if reasonField != "" {
			body = map[string]string{"reason": r.PostFormValue(reasonField)}
		}
		if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/%s", id, action), body, nil); err != nil {
			return err
		}
		return redirect(w, r, fmt.Sprintf("/releases/%d", id))
	}
}

func init() {
	funcs["relWords"] = func(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") }
	funcs["relChange"] = changeVerb
	funcs["relDeref"] = func(p any) any {
		switch x := p.(type) {
		case *time.Time:
			if x != nil {
				return *x
			}
			return time.Time{}
		case *string:
			if x != nil {
				return *x
			}
			return ""
		}
		return p
	}
	funcs["relPolicyTarget"] = func(t string) string {
		switch t {
		case "", shipgate.CheckTargetPipeline:
			return "the whole pipeline: any job that fails"
		}
		return "the job " + t + ": only its failure"
	}
	funcs["relMode"] = func(p shipgate.RollbackPolicy) string {
		switch p.Mode {
		case shipgate.RollbackVersion:
			return "to version " + p.Version
		case "", shipgate.RollbackLastSuccessful:
			return "to the last release that succeeded in this environment"
		}
		return p.Mode
	}
	funcs["relDays"] = func(days []string) string {
		if len(days) == 0 {
			return "every day"
		}
		return strings.Join(days, ", ")
	}
	funcs["relTZ"] = func(tz string) string {
		if tz == "" {
			return "UTC"
		}
		return tz
	}
	funcs["relDigest"] = func(s string) string {
		if h, ok := strings.CutPrefix(s, "sha256:"); ok && len(h) > 16 {
			return "sha256:" + h[:16] + "…"
		}
		if len(s) > 16 {
			return s[:16] + "…"
		}
		return s
	}
}
