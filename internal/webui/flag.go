package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate"
)

// The flags pages (issue 15): every live flag per service and environment
// with its state in words and a symbol; one flag with its definition,
// targeting in words, rollout, recent and pending changes; the kill
// switch (a reason, then a confirmation page, then the API's kill route),
// enable after a kill, and Approve / Reject of pending changes. Like every
// page, they read and act through the API as the session's user: the API
// checks the permission, refuses self-approval and audits.

func (s *Server) flagRoutes() []route {
	return []route{
		{"GET /flags", s.flagsPage},
		{"GET /flags/live", s.live(s.flagsLive)},
		{"GET /flags/{service}/{env}/{key}", s.flagPage},
		{"GET /flags/{service}/{env}/{key}/live", s.live(s.flagLive)},
		{"POST /flags/{service}/{env}/{key}/kill", s.flagKill},
		{"POST /flags/{service}/{env}/{key}/enable", s.flagEnable},
		{"POST /flag-changes/{id}/{decision}", s.flagDecide},
		{"POST /releases/{id}/flags/kill", s.releaseFlagsKill},
	}
}

// flagView is the API's answer for one flag (GET /api/v1/flags/…).
type flagView struct {
	Flag    shipgate.FlagState    `json:"flag"`
	Changes []shipgate.FlagChange `json:"changes"`
	Pending []shipgate.FlagChange `json:"pending"`
}

// flagAPIPath is the API path of a flag.
func flagAPIPath(service, env, key string) string {
	return "/api/v1" + flagPagePath(service, env, key)
}

// flagPagePath is the UI path of a flag (the API's, without /api/v1).
func flagPagePath(service, env, key string) string {
	return "/flags/" + url.PathEscape(service) + "/" + url.PathEscape(env) + "/" + url.PathEscape(key)
}

// flagRow is one flag in the list.
type flagRow struct {
	shipgate.FlagState
	Path    string
	State   flagStateView
	Target  string
	Last    *shipgate.FlagChange
	Pending int
}

type flagsData struct {
	Service, Environment string
	Services             []string // for the filter, from the flags listed
	Environments         []string
	Groups               []flagGroup
	Total                int
	Self                 string // this page, for the refresh link
	Live                 string // its live stream
}

// flagGroup is the flags of one service in one environment.
type flagGroup struct {
	Service, Environment string
	Flags                []flagRow
}

func (flagsData) PageTitle() string { return "Flags" }

func (s *Server) flagsPage(w http.ResponseWriter, r *http.Request, c *call) error {
	d, err := s.flagsData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "flags", d)
	return nil
}

// flagsData reads the list's flags, their newest changes and the pending
// ones through the API.
func (s *Server) flagsData(r *http.Request, c *call) (*flagsData, error) {
	q := url.Values{}
	d := &flagsData{Service: r.URL.Query().Get("service"), Environment: r.URL.Query().Get("environment")}
	d.Self, d.Live = "/flags", "/flags/live"
	if q := r.URL.Query(); len(q) > 0 {
		filter := "?" + url.Values{"service": {d.Service}, "environment": {d.Environment}}.Encode()
		d.Self, d.Live = d.Self+filter, d.Live+filter
	}
	if d.Service != "" {
		q.Set("service", d.Service)
	}
	if d.Environment != "" {
		q.Set("environment", d.Environment)
	}
	var all []shipgate.FlagState
	if err := c.API("GET", "/api/v1/flags?"+q.Encode(), nil, &all); err != nil {
		return nil, err
	}
	// The newest changes tell each flag's last change and the pending
	// ones; a flag whose last change is older than these shows who
	// changed it when, from its state, without the reason.
	var recent, pending []shipgate.FlagChange
	if err := c.API("GET", "/api/v1/flag-changes?"+q.Encode(), nil, &recent); err != nil {
		return nil, err
	}
	q.Set("state", string(shipgate.FlagChangePending))
	if err := c.API("GET", "/api/v1/flag-changes?"+q.Encode(), nil, &pending); err != nil {
		return nil, err
	}
	type id struct{ s, e, k string }
	last := map[id]*shipgate.FlagChange{}
	for i := range recent {
		ch := &recent[i]
		k := id{ch.Service, ch.Environment, ch.Key}
		if _, ok := last[k]; !ok && ch.State == shipgate.FlagChangeApplied {
			last[k] = ch
		}
	}
	waiting := map[id]int{}
	for _, ch := range pending {
		waiting[id{ch.Service, ch.Environment, ch.Key}]++
	}
	// The filters offer the services and environments of the flags
	// listed, and always the ones in effect.
	services, envs := map[string]bool{d.Service: d.Service != ""}, map[string]bool{d.Environment: d.Environment != ""}
	for _, fs := range all {
		services[fs.Service], envs[fs.Environment] = true, true
		k := id{fs.Service, fs.Environment, fs.Flag.Key}
		row := flagRow{FlagState: fs, Path: flagPagePath(fs.Service, fs.Environment, fs.Flag.Key), Last: last[k], Pending: waiting[k]}
		row.State = flagState(&row.Flag, row.Last)
		row.Target = targetingSummary(&row.Flag)
		if n := len(d.Groups); n == 0 || d.Groups[n-1].Service != fs.Service || d.Groups[n-1].Environment != fs.Environment {
			d.Groups = append(d.Groups, flagGroup{Service: fs.Service, Environment: fs.Environment})
		}
		g := &d.Groups[len(d.Groups)-1]
		g.Flags = append(g.Flags, row)
		d.Total++
	}
	d.Services, d.Environments = keysOf(services), keysOf(envs)
	return d, nil
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k, ok := range m {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// flagPageData is the data of templates/flag.html.
type flagPageData struct {
	S        shipgate.FlagState
	Path     string
	State    flagStateView
	Variants []variantRow
	Rules    []string
	Bars     []splitBar
	Changes  []flagChangeRow
	Pending  []pendingRow
	// Done says what the reader just did (after a redirect).
	Done string
	// CanKill and CanChange: the reader holds flag.kill / flag.change.
	CanKill, CanChange bool
	// KillWhy says why the kill switch is not offered, in words.
	KillWhy string
}

func (d *flagPageData) PageTitle() string {
	return fmt.Sprintf("Flag %s · %s in %s", d.S.Flag.Key, d.S.Service, d.S.Environment)
}

// flagChangeRow is one change with its before → after in words.
type flagChangeRow struct {
	shipgate.FlagChange
	Diff []string
}

// pendingRow is a pending change with what the reader may do about it:
// approve (never their own), reject (their own too: a withdrawal), and
// why not, in the API's words.
type pendingRow struct {
	flagChangeRow
	Own                   bool
	Need                  string // the approvals it still needs
	CanApprove, CanReject bool
	ApproveWhy, RejectWhy string
}

func (s *Server) flagPage(w http.ResponseWriter, r *http.Request, c *call) error {
	d, err := s.flagData(r, c)
	if err != nil {
		return err
	}
	d.Done = doneWords[r.URL.Query().Get("done")]
	s.render(w, r, c, http.StatusOK, "flag", d)
	return nil
}

// flagData reads one flag with its changes through the API.
func (s *Server) flagData(r *http.Request, c *call) (*flagPageData, error) {
	svc, env, key := r.PathValue("service"), r.PathValue("env"), r.PathValue("key")
	var v flagView
	if err := c.API("GET", flagAPIPath(svc, env, key), nil, &v); err != nil {
		return nil, err
	}
	d := &flagPageData{S: v.Flag, Path: flagPagePath(svc, env, key),
		CanKill: c.Can(string(shipgate.PermFlagKill)), CanChange: c.Can(string(shipgate.PermFlagChange))}
	f := &d.S.Flag
	var last *shipgate.FlagChange
	for i := range v.Changes {
		if v.Changes[i].State == shipgate.FlagChangeApplied {
			last = &v.Changes[i]
			break
		}
	}
	d.State = flagState(f, last)
	d.Variants = variantRows(f)
	d.Rules = rulesWords(f.Rules)
	if f.Rollout != nil {
		d.Bars = splitBars(f.Rollout.Split)
	}
	if !d.CanKill {
		d.KillWhy = fmt.Sprintf("Turning a flag off needs the %s permission (roles %s); you can see the flag but not change it.",
			shipgate.PermFlagKill, joinRoles(shipgate.RolesGranting(shipgate.PermFlagKill)))
	}
	for _, ch := range v.Changes {
		d.Changes = append(d.Changes, flagChangeRow{FlagChange: ch, Diff: flagChangeWords(&ch)})
	}
	// What the reader may do about each pending change, by the rule the
	// API applies (CheckFlagApprover) under the environment's
	// flag_approvals now.
	var policy *shipgate.ApprovalPolicy
	if len(v.Pending) > 0 {
		var service shipgate.Service
		if err := c.API("GET", "/api/v1/services/"+url.PathEscape(svc), nil, &service); err == nil {
			if e, ok := service.Spec.Environment(env); ok {
				policy = e.FlagApprovals
			}
		}
	}
	for _, ch := range v.Pending {
		p := pendingRow{flagChangeRow: flagChangeRow{FlagChange: ch, Diff: flagChangeWords(&ch)}, Own: ch.RequestedBy == c.User.Name}
		if policy != nil {
			p.Need = fmt.Sprintf("needs %d approval%s (of %d)", max(1, policy.Required-len(ch.Approvals)), plural(max(1, policy.Required-len(ch.Approvals))), policy.Required)
			if len(policy.FromGroups) > 0 {
				p.Need += " from members of " + strings.Join(policy.FromGroups, ", ")
			}
		}
		if err := shipgate.CheckFlagApprover(&ch, policy, c.User, shipgate.DecisionApprove); err != nil {
			p.ApproveWhy = shipgate.ErrorMessage(err)
		} else if slices.ContainsFunc(ch.Approvals, func(a shipgate.FlagChangeApproval) bool { return a.Approver == c.User.Name }) {
			p.ApproveWhy = "You approved this change already."
		} else {
			p.CanApprove = true
		}
		if err := shipgate.CheckFlagApprover(&ch, policy, c.User, shipgate.DecisionReject); err != nil {
			p.RejectWhy = shipgate.ErrorMessage(err)
		} else {
			p.CanReject = true
		}
		d.Pending = append(d.Pending, p)
	}
	return d, nil
}

func joinRoles(roles []shipgate.Role) string {
	parts := make([]string, len(roles))
	for i, r := range roles {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}

// doneWords is what a flag page says after an action (?done=…).
var doneWords = map[string]string{
	"killed":   "The flag is off: it serves its safe variant to every caller now. The kill is in the audit log with your reason.",
	"enabled":  "The flag is on again: its rules decide.",
	"pending":  "Your change waits for approval: it applies once approved.",
	"approved": "Your approval is recorded.",
	"rejected": "The change is rejected.",
}

// flagConfirm is the data of templates/flag_confirm.html: the second step
// of a kill, which works without JavaScript.
type flagConfirm struct {
	Action  string // the form's action
	Back    string // the page to go back to
	Title   string
	What    string   // what the kill does, in words
	Flags   []string // the flags it turns off, with what each will serve
	Reason  string
	Confirm string // the button's words
}

func (d *flagConfirm) PageTitle() string { return d.Title }

// reasonOf reads the form's reason: required, at most MaxFlagReasonLen.
func reasonOf(r *http.Request) (string, error) {
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		return "", shipgate.Errorf(shipgate.EINVALID, "say why in the reason field: it goes into the audit log and the notifications")
	}
	if len(reason) > shipgate.MaxFlagReasonLen {
		return "", shipgate.Errorf(shipgate.EINVALID, "the reason is %d characters, more than the %d allowed", len(reason), shipgate.MaxFlagReasonLen)
	}
	return reason, nil
}

// flagKill is the kill switch: the first post (reason, no confirm) shows
// what will happen and asks to confirm; the second (confirm=1) calls the
// API, which kills the flag at once and audits it with the reason.
func (s *Server) flagKill(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, env, key := r.PathValue("service"), r.PathValue("env"), r.PathValue("key")
	reason, err := reasonOf(r)
	if err != nil {
		return err
	}
	page := flagPagePath(svc, env, key)
	if r.PostForm.Get("confirm") != "1" {
		var v flagView
		if err := c.API("GET", flagAPIPath(svc, env, key), nil, &v); err != nil {
			return err
		}
		f := &v.Flag.Flag
		s.render(w, r, c, http.StatusOK, "flag_confirm", &flagConfirm{
			Action: page + "/kill", Back: page, Title: "Turn off " + key + "?", Reason: reason, Confirm: "Yes, turn off " + key,
			What:  fmt.Sprintf("Every caller of %s in %s gets the safe variant at once, whatever its rules say. No approval is needed; the kill is audited with your reason and notified.", svc, env),
			Flags: []string{fmt.Sprintf("%s: %s → serves %s", key, flagState(f, nil).Words, f.SafeVariant)},
		})
		return nil
	}
	if err := c.API("POST", flagAPIPath(svc, env, key)+"/kill", map[string]string{"reason": reason}, nil); err != nil {
		return err
	}
	return redirect(w, r, page+"?done=killed")
}

// flagEnable turns a killed or disabled flag back on (op enable), with a
// reason; where the environment requires approvals it waits for them.
func (s *Server) flagEnable(w http.ResponseWriter, r *http.Request, c *call) error {
	svc, env, key := r.PathValue("service"), r.PathValue("env"), r.PathValue("key")
	reason, err := reasonOf(r)
	if err != nil {
		return err
	}
	var ch shipgate.FlagChange
	if err := c.API("POST", flagAPIPath(svc, env, key), map[string]string{"op": string(shipgate.FlagOpEnable), "reason": reason}, &ch); err != nil {
		return err
	}
	done := "enabled"
	if ch.State == shipgate.FlagChangePending {
		done = "pending"
	}
	return redirect(w, r, flagPagePath(svc, env, key)+"?done="+done)
}

// flagDecide approves or rejects a pending flag change, then shows its
// flag again (the form names it; the API decides on the change's id).
func (s *Server) flagDecide(w http.ResponseWriter, r *http.Request, c *call) error {
	decision := r.PathValue("decision")
	if decision != "approve" && decision != "reject" {
		return shipgate.Errorf(shipgate.ENOTFOUND, "no page %s", r.URL.Path)
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return shipgate.Errorf(shipgate.ENOTFOUND, "%q is not a flag change id", r.PathValue("id"))
	}
	body := map[string]string{"comment": strings.TrimSpace(r.PostForm.Get("comment"))}
	if err := c.API("POST", fmt.Sprintf("/api/v1/flag-changes/%d/%s", id, decision), body, nil); err != nil {
		return err
	}
	back := "/flags"
	if svc, env, key := r.PostForm.Get("service"), r.PostForm.Get("environment"), r.PostForm.Get("key"); svc != "" && env != "" && key != "" {
		back = flagPagePath(svc, env, key)
	}
	return redirect(w, r, back+"?done="+map[string]string{"approve": "approved", "reject": "rejected"}[decision])
}
