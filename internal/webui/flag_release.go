package webui

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// The release page's flags: the flags a release declares it introduces
// (release create --flag) with their live state, and turning them all off
// at once (reason, confirmation, the API's release flags kill route).

// releaseFlagsKill turns off every flag a release declares it introduces
// (ReleaseContent.Flags), with a reason and the same confirmation step.
func (s *Server) releaseFlagsKill(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := releaseOf(r, c)
	if err != nil {
		return err
	}
	reason, err := reasonOf(r)
	if err != nil {
		return err
	}
	page := fmt.Sprintf("/releases/%d", v.ID)
	if r.PostForm.Get("confirm") != "1" {
		rows, err := releaseFlagRows(c, v.Service, v.Environment, v.Flags)
		if err != nil {
			return err
		}
		d := &flagConfirm{Action: page + "/flags/kill", Back: page, Reason: reason,
			Title:   fmt.Sprintf("Turn off release %d's flags?", v.ID),
			Confirm: fmt.Sprintf("Yes, turn off %d flag%s", len(v.Flags), plural(len(v.Flags))),
			What:    fmt.Sprintf("Every caller of %s in %s gets each flag's safe variant at once. No approval is needed; each kill is audited with your reason, on the release's timeline and notified.", v.Service, v.Environment)}
		for _, row := range rows {
			if row.Missing {
				d.Flags = append(d.Flags, row.Key+": not a flag of "+v.Environment+" now (nothing to turn off)")
				continue
			}
			d.Flags = append(d.Flags, fmt.Sprintf("%s: %s → serves %s", row.Key, row.State.Words, row.Flag.SafeVariant))
		}
		s.render(w, r, c, http.StatusOK, "flag_confirm", d)
		return nil
	}
	if err := c.API("POST", fmt.Sprintf("/api/v1/releases/%d/flags/kill", v.ID), map[string]string{"reason": reason}, nil); err != nil {
		return err
	}
	return redirect(w, r, page+"?flags=killed#flags-h")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// releaseFlag is one flag a release declares, with its live state.
type releaseFlag struct {
	Key     string
	Path    string
	Missing bool // the environment has no such flag now
	Flag    shipgate.Flag
	State   flagStateView
}

// releaseFlagRows reads the live state of the flags a release declares.
func releaseFlagRows(c *call, service, env string, keys []string) ([]releaseFlag, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	q := url.Values{"service": {service}, "environment": {env}}
	var all []shipgate.FlagState
	if err := c.API("GET", "/api/v1/flags?"+q.Encode(), nil, &all); err != nil {
		return nil, err
	}
	var recent []shipgate.FlagChange
	q.Set("state", string(shipgate.FlagChangeApplied))
	if err := c.API("GET", "/api/v1/flag-changes?"+q.Encode(), nil, &recent); err != nil {
		return nil, err
	}
	var out []releaseFlag
	for _, k := range keys {
		row := releaseFlag{Key: k, Path: flagPagePath(service, env, k), Missing: true}
		for _, fs := range all {
			if fs.Flag.Key == k {
				row.Missing, row.Flag = false, fs.Flag
				var last *shipgate.FlagChange
				for i := range recent {
					if recent[i].Key == k {
						last = &recent[i]
						break
					}
				}
				row.State = flagState(&row.Flag, last)
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// releaseFlagsView is the release page's flags section.
type releaseFlagsView struct {
	Rows    []releaseFlag
	CanKill bool
	AnyOn   bool   // some declared flag is not off yet
	Done    string // after the kill
}

// releaseFlags reads the section; a failure to read it is told on the
// page instead of failing the whole release page.
func releaseFlags(r *http.Request, c *call, v *client.ReleaseView) (*releaseFlagsView, string) {
	if len(v.Flags) == 0 {
		return nil, ""
	}
	rows, err := releaseFlagRows(c, v.Service, v.Environment, v.Flags)
	if err != nil {
		return nil, "The flags of this release could not be read: " + shipgate.ErrorMessage(err)
	}
	fv := &releaseFlagsView{Rows: rows, CanKill: c.Can(string(shipgate.PermFlagKill))}
	for _, row := range rows {
		fv.AnyOn = fv.AnyOn || !row.Missing && !row.Flag.Disabled
	}
	if r.URL.Query().Get("flags") == "killed" {
		fv.Done = "The release's flags are off: each serves its safe variant to every caller now. The kills are on the timeline with your reason."
	}
	return fv, ""
}
