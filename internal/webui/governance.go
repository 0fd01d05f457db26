package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/evidence"
)

// Governance on the release and services pages: the policy decisions
// taken about a release (each with a replay page), its evidence, its
// checklist with the Tick form, the freezes that hold it with the
// emergency override forms, and its owner and runbook. Like the rest of
// the UI it reads and acts only through the API; the forms are offered
// by the same rules the API applies, and the API's refusal is the answer.

// governanceRoutes: the decisions pages and the governance actions of a
// release.
func (s *Server) governanceRoutes() []route {
	return []route{
		{"GET /policy-decisions", s.policyDecisionsPage},
		{"GET /policy-decisions/{id}", s.policyDecisionPage},
		{"POST /releases/{id}/checklist/tick", s.tickItem},
		{"POST /releases/{id}/freeze-override", s.requestOverride},
		{"POST /releases/{id}/freeze-override/approve", s.approveOverride},
	}
}

// decisionsShown bounds the decisions a release page lists (the newest);
// the decisions page has the rest.
const decisionsShown = 50

// decisionsPerPage is the page size of /policy-decisions.
const decisionsPerPage = 100

// evidenceShown and freezesShown bound the release page's lists (the
// newest evidence, the soonest freezes): a release may gather evidence
// from every job attempt, and the page stays small (TestPageWeight).
const (
	evidenceShown = 50
	freezesShown  = 20
)

// governanceView is the release page's governance sections.
type governanceView struct {
	Decisions []shipgate.PolicyDecision
	// DecisionsCut counts the older decisions left out of Decisions.
	DecisionsCut int
	Evidence     []evidenceRow
	// EvidenceCut counts the older items left out of Evidence.
	EvidenceCut int
	Checklist   []checklistRow
	// Freezes are the active and upcoming freezes covering the release's
	// service and environment; Holding the one that holds it now, if the
	// release waits on it.
	Freezes []shipgate.Freeze
	// FreezesCut counts the later freezes left out of Freezes.
	FreezesCut int
	Holding    *shipgate.Freeze
	Override   *shipgate.FreezeOverride
	// MayRequestOverride: the release has not started, a freeze covers
	// it now, nobody asked yet and the reader may create releases.
	MayRequestOverride bool
	RequestWhy         string
	// MayApproveOverride: a request waits and the reader is a member of
	// the server's override group who did not ask; else ApproveWhy.
	MayApproveOverride bool
	ApproveWhy         string
	OverrideGroup      string
	// Problem says what could not be read (the rest of the page stands).
	Problem string
}

// evidenceRow is an evidence item for people.
type evidenceRow struct {
	shipgate.Evidence
	Words string
	// Link is a link evidence's URL when it is http or https.
	Link, Title string
}

// checklistRow is a checklist item with what the reader may do.
type checklistRow struct {
	shipgate.ChecklistItemState
	MayTick bool
	TickWhy string // why the reader may not tick a manual item
}

// releaseDataGov is releaseData with the governance sections, which cost
// three more reads: the live stream's countdown re-renders without them.
func (s *Server) releaseDataGov(c *call, v *client.ReleaseView) (*releasePage, error) {
	d, err := s.releaseData(c, v)
	if err != nil {
		return nil, err
	}
	d.Gov = s.governance(c, v, d.Now)
	return d, nil
}

// governance reads the governance sections of release v through the API.
func (s *Server) governance(c *call, v *client.ReleaseView, now time.Time) *governanceView {
	g := &governanceView{Override: v.FreezeOverride, OverrideGroup: s.API.FreezeOverrideGroup}
	var problems []string
	var ds []shipgate.PolicyDecision
	if err := c.API("GET", fmt.Sprintf("/api/v1/policy-decisions?release=%d&limit=1000", v.ID), nil, &ds); err != nil {
		problems = append(problems, "policy decisions: "+shipgate.ErrorMessage(err))
	}
	if len(ds) > decisionsShown {
		g.DecisionsCut = len(ds) - decisionsShown
		ds = ds[len(ds)-decisionsShown:]
	}
	slices.Reverse(ds) // newest first
	g.Decisions = ds
	var ev []shipgate.Evidence
	if err := c.API("GET", fmt.Sprintf("/api/v1/releases/%d/evidence", v.ID), nil, &ev); err != nil {
		problems = append(problems, "evidence: "+shipgate.ErrorMessage(err))
	}
	if len(ev) > evidenceShown {
		g.EvidenceCut = len(ev) - evidenceShown
		ev = ev[len(ev)-evidenceShown:]
	}
	for _, e := range ev {
		g.Evidence = append(g.Evidence, evidenceLine(e))
	}
	final := v.State.Final()
	for _, it := range v.Checklist {
		row := checklistRow{ChecklistItemState: it}
		if it.Kind == "manual" {
			switch {
			case final:
				row.TickWhy = "the release is " + strings.ReplaceAll(string(v.State), "_", " ") + "; its checklist can no longer change"
			case !slices.Contains(c.User.Groups, it.Owner):
				row.TickWhy = fmt.Sprintf("only a member of %s may tick it; you (%s) are not one", it.Owner, c.User.Name)
			default:
				row.MayTick = true
			}
		}
		g.Checklist = append(g.Checklist, row)
	}
	var fs []shipgate.Freeze
	if err := c.API("GET", "/api/v1/freezes", nil, &fs); err != nil {
		problems = append(problems, "freezes: "+shipgate.ErrorMessage(err))
	}
	g.Freezes = freezesFor(fs, v.Service, v.Environment)
	if len(g.Freezes) > freezesShown {
		g.FreezesCut = len(g.Freezes) - freezesShown
		g.Freezes = g.Freezes[:freezesShown]
	}
	if active := shipgate.ActiveFreeze(fs, v.Service, v.Environment, now); active != nil && strings.HasPrefix(v.Reason, "frozen until") {
		g.Holding = active
	}
	waiting := v.State == shipgate.StatePendingApproval || v.State == shipgate.StateQueued
	switch {
	case v.FreezeOverride != nil:
		g.RequestWhy = "an override was already requested by " + v.FreezeOverride.RequestedBy
	case !waiting:
		g.RequestWhy = "only a release that has not started needs an override"
	case shipgate.ActiveFreeze(fs, v.Service, v.Environment, now) == nil:
		g.RequestWhy = "no freeze holds this release now"
	case !c.Can(string(shipgate.PermReleaseCreate)):
		g.RequestWhy = "asking for an override needs the permission to create releases, which you do not have"
	default:
		g.MayRequestOverride = true
	}
	if o := v.FreezeOverride; o != nil && !o.Granted() {
		switch {
		case g.OverrideGroup == "":
			g.ApproveWhy = "this server has no override group (freezes.override_group in the server config), so nobody can approve it"
		case o.RequestedBy == c.User.Name:
			g.ApproveWhy = "you requested this override and cannot approve it; another member of " + g.OverrideGroup + " must"
		case !slices.Contains(c.User.Groups, g.OverrideGroup):
			g.ApproveWhy = fmt.Sprintf("only a member of %s may approve a freeze override; you (%s) are not one", g.OverrideGroup, c.User.Name)
		default:
			g.MayApproveOverride = true
		}
	}
	g.Problem = strings.Join(problems, "; ")
	return g
}

// freezesFor keeps the freezes (active or upcoming, as the API lists
// them) that cover service in env, soonest first.
func freezesFor(fs []shipgate.Freeze, service, env string) []shipgate.Freeze {
	var out []shipgate.Freeze
	for _, f := range fs {
		if (f.Service == "" || f.Service == service) && (env == "" || f.Environment == "" || f.Environment == env) {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b shipgate.Freeze) int { return a.From.Compare(b.From) })
	return out
}

// firstFreezes keeps the soonest freezesShown of fs, for the services
// pages (`shipgate freeze list` lists every one).
func firstFreezes(fs []shipgate.Freeze) []shipgate.Freeze { return fs[:min(len(fs), freezesShown)] }

// evidenceLine says an evidence item in words, with its link if it is
// one a browser may follow.
func evidenceLine(e shipgate.Evidence) evidenceRow {
	row := evidenceRow{Evidence: e, Words: evidence.Describe(e.Type, e.Summary)}
	if e.Type == evidence.TypeLink {
		raw, _ := e.Summary["url"].(string)
		if u, err := url.Parse(raw); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			row.Link = u.String()
		}
		row.Title, _ = e.Summary["title"].(string)
	}
	if e.Type == evidence.TypeSignature && e.Summary != nil {
		row.Words = "signature " + row.Words
	}
	return row
}

// safeLink returns raw when it is an absolute http or https URL, else "":
// runbooks and evidence links are followed by people, never run.
func safeLink(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// tickItem ticks a manual checklist item with the form's link and comment.
func (s *Server) tickItem(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	req := client.TickRequest{Item: r.PostFormValue("item"), Link: r.PostFormValue("link"), Comment: r.PostFormValue("comment")}
	if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/checklist/tick", id), req, nil); err != nil {
		return err
	}
	return redirect(w, r, fmt.Sprintf("/releases/%d#checklist", id))
}

// requestOverride asks for an emergency override of the freezes holding
// the release, with the form's reason.
func (s *Server) requestOverride(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/freeze-override", id), client.OverrideRequest{Reason: r.PostFormValue("reason")}, nil); err != nil {
		return err
	}
	return redirect(w, r, fmt.Sprintf("/releases/%d#freezes", id))
}

// approveOverride approves the release's override request.
func (s *Server) approveOverride(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := releaseID(r)
	if err != nil {
		return err
	}
	if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/freeze-override/approve", id), struct{}{}, nil); err != nil {
		return err
	}
	return redirect(w, r, fmt.Sprintf("/releases/%d#freezes", id))
}

// decisionsData is the data of templates/policydecisions.html.
type decisionsData struct {
	Decisions []shipgate.PolicyDecision
	Point     string
	Result    string
	Release   int64
	After     int64
	// Next is the query of the next page, "" on the last.
	Next    string
	Points  []string
	Results []string
}

func (decisionsData) PageTitle() string { return "Policy decisions" }

// policyDecisionsPage lists recorded decisions, oldest first as the API
// gives them, filtered by point, result and release, a page at a time.
func (s *Server) policyDecisionsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	d := decisionsData{Point: q.Get("point"), Result: q.Get("result"), Points: shipgate.PolicyPoints,
		Results: []string{shipgate.PolicyAllow, shipgate.PolicyDeny, shipgate.PolicyError}}
	api := url.Values{"limit": {strconv.Itoa(decisionsPerPage + 1)}}
	for _, k := range []string{"point", "result"} {
		if v := q.Get(k); v != "" {
			api.Set(k, v)
		}
	}
	for _, k := range []string{"release", "after"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return shipgate.Errorf(shipgate.EINVALID, "%s=%q is not a number", k, v)
		}
		api.Set(k, v)
		if k == "release" {
			d.Release = n
		} else {
			d.After = n
		}
	}
	if err := c.API("GET", "/api/v1/policy-decisions?"+api.Encode(), nil, &d.Decisions); err != nil {
		return err
	}
	if len(d.Decisions) > decisionsPerPage {
		d.Decisions = d.Decisions[:decisionsPerPage]
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("after", strconv.FormatInt(d.Decisions[len(d.Decisions)-1].ID, 10))
		d.Next = next.Encode()
	}
	s.render(w, r, c, http.StatusOK, "policydecisions", d)
	return nil
}

// decisionData is the data of templates/policydecision.html: a decision,
// its input pretty-printed, and its replay.
type decisionData struct {
	D      *shipgate.PolicyDecision
	Input  string
	Replay *client.PolicyReplay
	// ReplayProblem says why the replay could not run.
	ReplayProblem string
}

func (d decisionData) PageTitle() string { return fmt.Sprintf("Policy decision %d", d.D.ID) }

// policyDecisionPage shows one decision and replays it: the recorded input
// evaluated again under the recorded bundle, compared byte for byte.
func (s *Server) policyDecisionPage(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return shipgate.Errorf(shipgate.ENOTFOUND, "%q is not a decision id", r.PathValue("id"))
	}
	var d decisionData
	if err := c.API("GET", fmt.Sprintf("/api/v1/policy-decisions/%d", id), nil, &d.D); err != nil {
		return err
	}
	d.Input = prettyJSON([]byte(d.D.Input))
	var rp client.PolicyReplay
	if err := c.API("GET", fmt.Sprintf("/api/v1/policy-decisions/%d/replay", id), nil, &rp); err != nil {
		d.ReplayProblem = shipgate.ErrorMessage(err)
	} else {
		d.Replay = &rp
	}
	s.render(w, r, c, http.StatusOK, "policydecision", d)
	return nil
}

func init() {
	funcs["safeLink"] = safeLink
	funcs["policyResult"] = func(result string) string {
		switch result {
		case shipgate.PolicyAllow:
			return "✓ allow"
		case shipgate.PolicyDeny:
			return "✖ deny"
		case shipgate.PolicyError:
			return "! error (fail closed)"
		}
		return result
	}
}
