package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) releaseLogsCommand() *cobra.Command {
	var job string
	var follow bool
	var run int
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print job logs of a release; -f follows until the jobs end",
		Long: `Print the job logs of a release (its current run, or --run N; one job with
--job); -f follows them until the jobs end.

-o json prints JSON Lines (one object per line): each log chunk as it
arrives, so -f can stream; read it line by line (jq -c, not one document).`,
		Args: oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			c := m.client()
			var cursor int64
			for {
				page, err := c.Logs(cmd.Context(), id, run, job, cursor)
				if err != nil {
					return err
				}
				run = page.Run
				for _, ch := range page.Chunks {
					if asJSON {
						if err := m.printJSONLine(ch); err != nil {
							return err
						}
						continue
					}
					m.printChunk(ch, job == "")
				}
				cursor = page.Next
				if len(page.Chunks) > 0 && !page.Done {
					continue // more may be waiting
				}
				if !follow || page.Done {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().StringVar(&job, "job", "", "only this job")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the jobs have ended")
	cmd.Flags().IntVar(&run, "run", 0, "run number (default: the latest)")
	enumFlag(cmd, &m.output, "output", "o", "text", "output format", []string{"text", "json"}, "output format; json is JSON Lines (one object per line)")
	return cmd
}

func (m *Main) printJSONLine(v any) error {
	return jsonLine(m.Stdout, v)
}

// printChunk writes a chunk's text, each line prefixed with its job when
// several jobs are interleaved. A job's log is its programs' output: its
// newlines and tabs are kept, CRLF line ends are shown as plain newlines,
// and every other control character — ESC of colour codes and cursor
// moves, a bare CR of progress bars — arrives escaped (\x1b, \r) through
// the termWriter.
func (m *Main) printChunk(ch shipgate.LogChunk, prefix bool) {
	text := strings.ReplaceAll(ch.Data, "\r\n", "\n")
	if !prefix {
		io.WriteString(m.Stdout, text)
		return
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		if line != "" {
			fmt.Fprintf(m.Stdout, "[%s] %s", shipgate.EscapeText(ch.Job, ""), line)
		}
	}
}

func (m *Main) releaseWaitCommand() *cobra.Command {
	var timeout time.Duration
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait until a release is final, showing progress; exit 0 only if it succeeded",
		Long: `Wait until a release is final, printing a progress line on stderr each time it
changes: the state and its reason, each job's state — a queued job with why it
waits (no online agent has its labels, or none may take jobs of the
environment) — for a release pending approval the tally, how many approvals
are missing, from which groups and who may still give them, and a rollout's
step, weight, judges and pauses (also with -o json). The final state goes to
stdout, with the flags its rollback mitigations flipped if it failed (-o json: the release as ` + "`release show -o json`" + ` prints it, also
on --timeout). Exit 0 only if it
succeeded, 1 if it ended otherwise, 2 on --timeout.`,
		Args: oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			asJSON, err := m.jsonOutput()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			interval = max(interval, 100*time.Millisecond)
			var deadline <-chan time.Time
			if timeout > 0 {
				deadline = time.After(timeout)
			}
			c := m.client()
			last := ""
			for {
				v, err := c.Release(ctx, id)
				if err != nil {
					return err
				}
				if !asJSON {
					scrub(v) // each field prints as one line (see render)
				}
				// Progress goes to stderr with -o json too: stdout keeps
				// only the JSON of the release.
				if line := progressLine(v.Release, v.Jobs) + approvalProgress(v) + rolloutProgress(v); line != last {
					fmt.Fprintf(m.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), line)
					last = line
				}
				if v.State.Final() {
					if asJSON {
						m.printJSON(v)
					} else {
						fmt.Fprintf(m.Stdout, "release %d %s\n", v.ID, stateLine(v.Release))
						if line := flipsLine(v); line != "" {
							fmt.Fprintln(m.Stdout, line)
						}
					}
					if v.State != shipgate.StateSucceeded {
						return &exitError{code: 1}
					}
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-deadline:
					if asJSON {
						m.printJSON(v) // where it stands, for a script to read
					}
					return &exitError{code: 2, msg: fmt.Sprintf("error: release %d is still %s after %s", id, v.State, timeout)}
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (exit 2); 0 waits forever")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to poll")
	m.addOutputFlag(cmd)
	return cmd
}

// rolloutProgress is the part of release wait's progress line about the
// rollouts of running jobs: strategy and step, the new version's weight,
// the latest verdict of each judge, and a pause waiting for a person with
// the command that continues it. It leaves out what moves at every report
// (request counts), so the line changes only when the rollout does.
func rolloutProgress(v *client.ReleaseView) string {
	var out []string
	for _, ro := range v.Rollouts {
		live := false
		for _, j := range v.Jobs {
			live = live || j.Name == ro.Job && j.Attempt == ro.Attempt && j.State == shipgate.JobRunning
		}
		if !live {
			continue
		}
		s := ro.Status
		parts := []string{s.Strategy}
		if s.Step > 0 {
			parts[0] += " step " + stepOf(s)
		}
		if s.CanaryVersion != "" {
			parts[0] += fmt.Sprintf(", %s at %d%%", s.CanaryVersion, s.Weight)
		}
		var judges []string
		verdict := map[string]string{}
		for _, d := range s.Decisions {
			if _, seen := verdict[d.Judge]; !seen {
				judges = append(judges, d.Judge)
			}
			verdict[d.Judge] = d.Phase
		}
		for _, j := range judges {
			parts = append(parts, j+" judge: "+verdict[j])
		}
		switch {
		case s.Phase == shipgate.RolloutPaused && ro.PromotedThrough >= s.Pause:
			parts = append(parts, "paused: promoted, continuing")
		case s.Phase == shipgate.RolloutPaused && s.Paused != "":
			parts = append(parts, fmt.Sprintf("paused (%s): run `shipgate promote %d`", s.Paused, v.ID))
		case s.Phase == shipgate.RolloutPaused:
			parts = append(parts, fmt.Sprintf("paused: run `shipgate promote %d`", v.ID))
		case s.PauseUntil != nil:
			parts = append(parts, "pause until "+fmtTime(*s.PauseUntil))
		case s.Phase != "" && s.Phase != shipgate.RolloutProgressing:
			parts = append(parts, s.Phase)
		}
		out = append(out, " | "+ro.Job+" rollout: "+strings.Join(parts, ", "))
	}
	return strings.Join(out, "")
}

func progressLine(r *shipgate.Release, jobs []shipgate.JobRun) string {
	line := fmt.Sprintf("release %d %s", r.ID, stateLine(r))
	if len(jobs) > 0 {
		parts := make([]string, len(jobs))
		for i, j := range jobs {
			parts[i] = j.Name + " " + string(j.State)
			if j.State == shipgate.JobRunning && j.Attempt > 1 {
				parts[i] += fmt.Sprintf(" (attempt %d)", j.Attempt)
			}
			// Why it waits (release show has it too): no online agent
			// with its labels, or none that may take this environment.
			if reason := strings.TrimPrefix(j.Reason, "; "); j.State == shipgate.JobQueued && reason != "" {
				parts[i] += " (" + reason + ")"
			}
		}
		line += " | run " + fmt.Sprint(r.Run) + ": " + strings.Join(parts, ", ")
	}
	return line
}

// approvalProgress is the part of release wait's progress line for a
// release waiting for approvals: the tally, how many are missing, from
// which groups, who of their members may still approve, and the command.
func approvalProgress(v *client.ReleaseView) string {
	t := v.Tally
	if v.State != shipgate.StatePendingApproval || t == nil {
		return ""
	}
	s := fmt.Sprintf(" | approvals: %d of %d", len(t.Approvers), t.Required)
	if len(t.Approvers) > 0 {
		s += " (" + strings.Join(t.Approvers, ", ") + ")"
	}
	missing := t.Required - len(t.Approvers)
	if missing <= 0 {
		return s
	}
	s += fmt.Sprintf("; needs %d more", missing)
	p := v.Policy.Approvals
	if len(p.FromGroups) > 0 {
		s += " from " + strings.Join(p.FromGroups, " or ")
		if who := mayStillApprove(v, t.Approvers); who != "" {
			s += " (" + who + ")"
		}
	}
	return s + fmt.Sprintf(": shipgate approve %d", v.ID)
}

// mayStillApprove names the members of the release's approver groups
// who have not approved yet, and the creator who may not; "" when the
// membership is not known.
func mayStillApprove(v *client.ReleaseView, approved []string) string {
	groups := v.ApproverGroups
	if groups == nil {
		groups = v.LegacyApproverGroups
	}
	if groups == nil {
		return ""
	}
	var names []string
	creator := ""
	seen := map[string]bool{}
	for _, a := range approved {
		seen[a] = true
	}
	for _, g := range v.Policy.Approvals.FromGroups {
		for _, n := range groups[g] {
			switch {
			case seen[n]:
			case n == v.CreatedBy && !v.Policy.Approvals.AllowSelfApproval:
				creator = "; " + n + " created it"
			default:
				names = append(names, n)
			}
			seen[n] = true
		}
	}
	const most = 6
	list := strings.Join(names, ", ")
	switch {
	case len(names) == 0:
		list = "nobody else"
	case len(names) > most:
		list = strings.Join(names[:most], ", ") + fmt.Sprintf(", and %d more", len(names)-most)
	}
	return list + creator
}
