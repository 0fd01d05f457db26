package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/spf13/cobra"
)

func (m *Main) releaseCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Create, inspect and follow releases"}
	cmd.AddCommand(m.releaseCreateCommand(), m.releaseListCommand(), m.releaseShowCommand(), m.releaseLogsCommand(), m.releaseWaitCommand(), m.releaseBundleCommand())
	return cmd
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a release id", s)
	}
	return id, nil
}

func parseKV(list []string, what string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q is not of the form name=value", what, kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s %q is given twice", what, k)
		}
		out[k] = v
	}
	return out, nil
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func (m *Main) releaseListCommand() *cobra.Command {
	var f shipgate.ReleaseFilter
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List releases, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, s := range states {
				f.States = append(f.States, shipgate.ReleaseState(s))
			}
			rels, err := m.client().Releases(cmd.Context(), f)
			if err != nil {
				return err
			}
			return m.render(rels, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSERVICE\tENV\tVERSION\tSTATE\tCREATED BY\tCREATED")
				for _, r := range rels {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Service, r.Environment, r.Version, r.State, r.CreatedBy, fmtTime(r.CreatedAt))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&f.Service, "service", "", "only this service")
	cmd.Flags().StringVar(&f.Environment, "env", "", "only this environment")
	cmd.Flags().StringVar(&f.Version, "version", "", "only this version")
	enumListFlag(cmd, &states, "state", "release state", releaseStates, "only these states")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) releaseShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a release: state and why, digest, approvals, jobs, timeline",
		Args:  oneArg("a release ID", "release list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			v, err := m.client().Release(cmd.Context(), id)
			if err != nil {
				return err
			}
			ev, err := m.client().ListEvidence(cmd.Context(), id)
			if err != nil {
				return err
			}
			return m.render(v, func(w io.Writer) error {
				if err := printRelease(w, v); err != nil {
					return err
				}
				return printReleaseEvidence(w, id, ev)
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func stateLine(r *shipgate.Release) string {
	s := string(r.State)
	if r.Reason != "" {
		s += " — " + r.Reason
	}
	return s
}

func printRelease(w io.Writer, v *client.ReleaseView) error {
	r := v.Release
	fmt.Fprintf(w, "release %d: %s → %s, version %s\n", r.ID, r.Service, r.Environment, r.Version)
	fmt.Fprintf(w, "  state:     %s\n", stateLine(r))
	if r.HotfixOf != 0 {
		fmt.Fprintf(w, "  hotfix:    fixes release %d\n", r.HotfixOf)
	}
	if r.Kind == shipgate.ReleaseKindRollback {
		fmt.Fprintf(w, "  rollback:  of release %d, restoring release %d, triggered by %s\n", r.RollbackOf, r.RestoresRelease, r.TriggeredBy)
		// What the frozen pipeline will do: never a pause for a person,
		// never a judge of the version it replaces.
		for _, j := range r.Pipeline.Jobs {
			if j.Service != nil {
				fmt.Fprintf(w, "  rollout:   %s: %s, no analysis, no pause for promote\n", j.Name, shipgate.StrategySummary(j.Strategy))
			}
		}
		if r.RollbackStrategyNote != "" {
			fmt.Fprintf(w, "  rollout:   %s\n", r.RollbackStrategyNote)
		}
	}
	if v.Rollback != nil {
		fmt.Fprintf(w, "  rollback:  %s\n", rollbackLine(v.Rollback))
	}
	if r.WaitUntil != nil {
		fmt.Fprintf(w, "  until:     %s (in %s)\n", fmtTime(*r.WaitUntil), time.Until(*r.WaitUntil).Round(time.Second))
	}
	fmt.Fprintf(w, "  digest:    %s\n", r.Digest)
	fmt.Fprintf(w, "  artifact:  %s (sha256 %s, %d bytes)\n", r.Artifact.Location, r.Artifact.SHA256, r.Artifact.Size)
	if r.Source.Commit != "" || r.Source.Ref != "" {
		var src []string
		if r.Source.Commit != "" {
			c := "commit " + r.Source.Commit
			if r.Source.CommittedAt != nil {
				c += " committed " + fmtTime(*r.Source.CommittedAt)
			}
			src = append(src, c)
		}
		if r.Source.Ref != "" {
			src = append(src, "ref "+r.Source.Ref)
		}
		fmt.Fprintf(w, "  source:    %s\n", strings.Join(src, ", "))
	}
	fmt.Fprintf(w, "  created:   %s by %s (service revision %d)\n", fmtTime(r.CreatedAt), r.CreatedBy, r.ServiceRevision)
	printOwnership(w, r.Owner, r.Runbook)
	p := r.Policy.Approvals
	policy := fmt.Sprintf("%d approval(s)", p.Required)
	if len(p.FromGroups) > 0 {
		policy += " from " + strings.Join(p.FromGroups, ", ")
	}
	if p.ExpiresAfter > 0 {
		policy += ", expiring after " + p.ExpiresAfter.Std().String()
	}
	if p.AllowSelfApproval {
		policy += ", self-approval allowed"
	}
	fmt.Fprintf(w, "  policy:    %s\n", policy)
	if line := approversLine(v); line != "" {
		fmt.Fprintf(w, "  approvers: %s\n", line)
	}
	printReleaseInputs(w, r)
	printReleaseFlags(w, r)
	printGovernance(w, v)
	if len(v.Approvals) > 0 {
		fmt.Fprintln(w, "approvals:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, a := range v.Approvals {
			status := ""
			switch {
			case a.Decision == shipgate.DecisionReject:
			case a.WithdrawnAt != nil:
				status = "withdrawn " + fmtTime(*a.WithdrawnAt) + ": " + a.WithdrawnReason
			case a.ExpiredAt != nil || (a.ExpiresAt != nil && !time.Now().Before(*a.ExpiresAt)):
				status = "expired " + fmtTimePtr(a.ExpiresAt)
			case a.ExpiresAt != nil:
				status = "counts until " + fmtTime(*a.ExpiresAt)
			default:
				status = "counts"
			}
			comment := ""
			if a.Comment != "" {
				comment = `"` + a.Comment + `"` // escaped by render
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", a.Actor, a.Decision, fmtTime(a.CreatedAt), status, comment)
		}
		tw.Flush()
	}
	if len(v.Jobs) > 0 {
		fmt.Fprintf(w, "jobs (run %d):\n", r.Run)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, j := range v.Jobs {
			took := ""
			if j.StartedAt != nil && j.FinishedAt != nil {
				took = j.FinishedAt.Sub(*j.StartedAt).Round(time.Millisecond).String()
			}
			runner := j.Runner
			if runner == "" {
				runner = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\tattempt %d/%d\t%s\t%s\t%s\n", j.Name, j.State, j.Attempt, j.MaxAttempts, runner, took, j.Reason)
		}
		tw.Flush()
	}
	for _, jp := range v.Probes {
		fmt.Fprintf(w, "probes of %s (attempt %d, latest %d):\n", jp.Job, jp.Attempt, len(jp.Probes))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, p := range jp.Probes {
			outcome := "healthy"
			if !p.OK {
				outcome = "unhealthy"
			}
			if p.Watch {
				outcome += " (watch)"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%dms\t%s\n", p.Seq, p.At.UTC().Format("15:04:05.000"), outcome, p.LatencyMS, p.Reason)
		}
		tw.Flush()
	}
	for _, ro := range v.Rollouts {
		live := false // only the running attempt of a job can be promoted
		for _, j := range v.Jobs {
			live = live || j.Name == ro.Job && j.Attempt == ro.Attempt && j.State == shipgate.JobRunning
		}
		printRollout(w, r.ID, ro, live)
	}
	if len(v.Timeline) > 0 {
		fmt.Fprintln(w, "timeline:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range v.Timeline {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", e.Seq, fmtTime(e.At), e.Actor, e.Action, timelineSummary(e))
		}
		tw.Flush()
	}
	return nil
}

// approversLine names who may decide the release under its from_groups:
// the members frozen when it was created, or for a release older than
// frozen membership, the members since before it was created.
func approversLine(v *client.ReleaseView) string {
	groups, note := v.ApproverGroups, "members when the release was created"
	if groups == nil {
		groups, note = v.LegacyApproverGroups, "members since before the release was created; it predates frozen membership"
	}
	if len(v.Policy.Approvals.FromGroups) == 0 || groups == nil {
		return ""
	}
	var parts []string
	for _, g := range v.Policy.Approvals.FromGroups {
		var names []string
		for _, n := range groups[g] {
			if n == v.CreatedBy && !v.Policy.Approvals.AllowSelfApproval {
				n += " (created it; cannot approve)"
			}
			names = append(names, n)
		}
		parts = append(parts, g+": "+joinOrNone(names))
	}
	return strings.Join(parts, "; ") + " (" + note + ")"
}

// printRollout shows where a rollout is and why: its step and weights,
// what it waits for, the traffic each version got, and each analysis
// decision with the sentence the agent wrote to explain it. live says the
// rollout's attempt is still running, so a pause can still be promoted.
func printRollout(w io.Writer, releaseID int64, ro client.Rollout, live bool) {
	s := ro.Status
	head := s.Strategy + ", " + s.Phase
	if s.Step > 0 {
		head += ", step " + stepOf(s)
	}
	fmt.Fprintf(w, "rollout of %s (attempt %d): %s\n", ro.Job, ro.Attempt, head)
	if s.CanaryVersion != "" || s.StableVersion != "" {
		role := "new"
		if s.Strategy == "canary" {
			role = "canary"
		}
		weight := fmt.Sprintf("%s %s at %d%%", role, cmp.Or(s.CanaryVersion, "-"), s.Weight)
		if s.StableVersion != "" {
			weight += ", stable " + s.StableVersion
		}
		fmt.Fprintf(w, "  weight:    %s\n", weight)
	}
	if s.Phase == shipgate.RolloutPaused {
		reason := s.Paused
		if reason == "" {
			reason = "waiting for a person"
		}
		switch {
		case !live:
			fmt.Fprintf(w, "  paused:    %s — when its attempt ended; nothing to promote\n", reason)
		case ro.PromotedThrough >= s.Pause:
			fmt.Fprintf(w, "  paused:    %s — promoted; the agent continues at its next report\n", reason)
		default:
			fmt.Fprintf(w, "  paused:    %s — run: shipgate promote %d\n", reason, releaseID)
		}
	}
	if s.PauseUntil != nil && s.Phase != shipgate.RolloutPromoted && s.Phase != shipgate.RolloutAborted {
		fmt.Fprintf(w, "  pause:     until %s\n", fmtTime(*s.PauseUntil))
	}
	if s.Message != "" {
		fmt.Fprintf(w, "  message:   %s\n", s.Message)
	}
	if len(s.Traffic) > 0 {
		fmt.Fprintln(w, "  traffic:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    VERSION\tROLE\tREQUESTS\tERRORS\tERROR %\tP50\tP90")
		for _, t := range s.Traffic {
			rate := "-"
			if t.Requests > 0 {
				rate = fmt.Sprintf("%.2f%%", 100*float64(t.Errors)/float64(t.Requests))
			}
			fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%s\t%.1fms\t%.1fms\n", t.Version, t.Role, t.Requests, t.Errors, rate, t.P50MS, t.P90MS)
		}
		tw.Flush()
	}
	if len(s.Decisions) > 0 {
		fmt.Fprintln(w, "  decisions:")
		for _, d := range s.Decisions {
			fmt.Fprintf(w, "    %s %s%s %s: %s\n", d.At.UTC().Format("15:04:05"), decisionStep(d), d.Judge, d.Phase, d.Summary)
		}
	}
}

// stepOf is a rollout's step, "3 of 7": the status counts steps from 1
// (shipgate.StepBase) as people do, so it is shown as it is.
func stepOf(s shipgate.RolloutStatus) string {
	return fmt.Sprintf("%d of %d", s.Step, s.Steps)
}

// decisionStep names the step of an analysis decision as the status
// does, "step 3 ", with "background " for the background analysis (the
// step is then the one the rollout was at); "" when there is no step.
func decisionStep(d shipgate.AnalysisDecision) string {
	var out string
	if d.Step > 0 {
		out = fmt.Sprintf("step %d ", d.Step)
	}
	if d.Background {
		out += "background "
	}
	return out
}

func (m *Main) releaseCreateCommand() *cobra.Command {
	var req client.CreateReleaseRequest
	var inputs, secrets []string
	var committedAt string
	cmd := &cobra.Command{
		Use:   "create SERVICE --env ENV --version V --artifact URL|PATH",
		Short: "Prepare a release; it waits for the approvals its environment requires",
		Long: `Prepare a release; it waits for the approvals its environment requires.

Inputs are checked against the inputs the service file declares (spec.inputs,
and the environment's inputs): an undeclared name is refused with "did you
mean", a required input must be given, values must match their pattern (the
whole value), inputs declared secret: true must be given with --secret-input
and only they may be. Defaults fill optional inputs that are not given and are
frozen into the release. A service that declares no inputs accepts any, with
a warning on stderr.`,
		Args: oneArg("a service name", "service list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Service = args[0]
			var err error
			if req.Inputs, err = parseKV(inputs, "input"); err != nil {
				return err
			}
			if req.SecretInputs, err = parseKV(secrets, "secret input"); err != nil {
				return err
			}
			for k, v := range req.SecretInputs {
				// name=@FILE keeps the value out of argv and shell history.
				if path, ok := strings.CutPrefix(v, "@"); ok {
					b, err := os.ReadFile(path)
					if err != nil {
						return fmt.Errorf("secret input %s: %w", k, err)
					}
					req.SecretInputs[k] = strings.TrimRight(string(b), "\r\n")
				}
			}
			if committedAt != "" {
				t, err := time.Parse(time.RFC3339, committedAt)
				if err != nil {
					return fmt.Errorf("--committed-at %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", committedAt)
				}
				req.CommittedAt = &t
			}
			req.Artifact = absArtifact(req.Artifact)
			v, err := m.client().CreateRelease(cmd.Context(), req)
			if err != nil {
				return err
			}
			for _, warning := range v.Warnings {
				fmt.Fprintf(m.Stderr, "warning: %s\n", warning)
			}
			return m.render(v, func(w io.Writer) error {
				fmt.Fprintf(w, "release %d created: %s\n", v.ID, stateLine(v.Release))
				fmt.Fprintf(w, "digest %s\n", v.Digest)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Environment, "env", "", "target environment (required)")
	f.StringVar(&req.Version, "version", "", "version being released (required)")
	f.StringVar(&req.Artifact, "artifact", "", "artifact URL, or path readable by the server (required)")
	f.StringVar(&req.SHA256, "sha256", "", "expected sha256 of the artifact; a mismatch is refused")
	f.StringArrayVar(&inputs, "input", nil, "input name=value, passed to steps as SHIPGATE_INPUT_<NAME>; checked against the service's declared inputs (unknown, required, pattern), defaults fill the rest; each value at most 64 KiB, all inputs of a release (plain and secret) at most 256 KiB together (repeatable)")
	f.StringArrayVar(&secrets, "secret-input", nil, "secret input name=value or name=@FILE (read from a file, kept out of argv): stored encrypted, masked in logs, never shown; only for inputs declared secret: true (repeatable)")
	f.StringVar(&req.Commit, "commit", "", "source commit")
	f.StringVar(&committedAt, "committed-at", "", "commit time, RFC 3339 (for lead-time metrics)")
	f.StringVar(&req.Ref, "ref", "", "source ref, e.g. a tag")
	f.StringArrayVar(&req.Flags, "flag", nil, "a feature flag this release introduces: a flag of the service in the environment, at most 32; `shipgate flag kill --release ID` turns them all off (repeatable)")
	f.BoolVar(&req.Hotfix, "hotfix", false, "this release fixes forward an earlier failed or degraded deployment of the service in the environment (DORA counts that one as failed, this one as rework): the one --fixes names, else the release deployed there now")
	f.Int64Var(&req.Fixes, "fixes", 0, "with --hotfix: the release ID this release fixes (same service and environment, deployed before)")
	for _, name := range []string{"env", "version", "artifact"} {
		cmd.MarkFlagRequired(name)
	}
	m.addOutputFlag(cmd)
	return cmd
}
