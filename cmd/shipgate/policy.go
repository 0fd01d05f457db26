package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/policy"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/spf13/cobra"
)

// maxPolicyFiles bounds a policy directory.
const maxPolicyFiles = 256

// readPolicyDir reads the *.rego files of dir (not *_test.rego), each
// package shipgate.<name>, and compiles them together; any problem is
// returned with file:line. "" reads nothing.
func readPolicyDir(dir string) ([]shipgate.PolicyModule, error) {
	if dir == "" {
		return nil, nil
	}
	files, err := policyFiles(dir)
	if err != nil {
		return nil, err
	}
	var mods []shipgate.PolicyModule
	seen := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		name, err := policy.NameOf(f, string(src))
		if err != nil {
			return nil, fmt.Errorf("--policy-dir: %s", shipgate.ErrorMessage(err))
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("--policy-dir: %s and %s are both package shipgate.%s; a policy is one file", other, f, name)
		}
		seen[name] = f
		mods = append(mods, shipgate.PolicyModule{Name: name, Filename: filepath.Base(f), Source: string(src)})
	}
	if len(mods) > 0 {
		if _, err := policy.Compile(shipgate.PolicyBundle{Modules: mods}); err != nil {
			return nil, fmt.Errorf("--policy-dir: %s", shipgate.ErrorMessage(err))
		}
	}
	return mods, nil
}

func policyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--policy-dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".rego") || strings.HasSuffix(n, "_test.rego") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	if len(out) > maxPolicyFiles {
		return nil, fmt.Errorf("--policy-dir %s has %d policies, more than the limit of %d", dir, len(out), maxPolicyFiles)
	}
	slices.Sort(out)
	return out, nil
}

// loadPolicyDir stores the directory's policies (a new revision where one
// changed, audited as the server's; the directory wins over a name
// applied through the API).
func loadPolicyDir(ctx context.Context, db *sqlstore.DB, dir string, mods []shipgate.PolicyModule, logger *slog.Logger) error {
	if dir == "" {
		return nil
	}
	return db.Update(ctx, func(tx *sqlstore.Tx) error {
		for _, m := range mods {
			rev, changed, err := tx.ApplyPolicy(ctx, shipgate.SystemActor, shipgate.PolicySourceDir, m.Name, m.Filename, m.Source)
			if err != nil {
				return fmt.Errorf("--policy-dir: %s: %w", m.Filename, err)
			}
			if changed {
				logger.Info("policy loaded from --policy-dir", "policy", m.Name, "revision", rev.Revision, "file", m.Filename)
			}
		}
		return nil
	})
}

func (m *Main) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Policy gates: Rego policies judging releases at create, approve, start and promote",
		Long: `Policy gates: Rego modules (package shipgate.<name>) that a service
environment names in "policies:". Their deny messages block a release at
create, approve, start or promote; warn messages are shown and recorded.
Every decision is recorded with its input and policy bundle, and replays
byte for byte. See docs/governance.md.`,
	}
	cmd.AddCommand(m.policyApplyCommand(), m.policyListCommand(), m.policyShowCommand(), m.policyDecisionsCommand(),
		m.policyReplayCommand(), m.policyEvalCommand(), m.policyTestCommand())
	return cmd
}

func (m *Main) policyApplyCommand() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE…",
		Short: "Apply policies (each file one Rego module, package shipgate.<name>); an unchanged file is a no-op",
		Long: `Apply policies; each file is one Rego module whose package line,
shipgate.<name>, names it. A module that does not compile is refused with
file:line and nothing is applied from it. Files are applied one by one, in
the order given; a name that comes from the server's --policy-dir is
refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files) == 0 {
				return fmt.Errorf("policy apply needs -f FILE (repeat -f for more)")
			}
			var results []*client.PolicyApplyResult
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				res, err := m.client().ApplyPolicy(cmd.Context(), client.PolicyFile{Filename: filepath.Base(f), Source: string(src)})
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			return m.render(results, func(w io.Writer) error {
				for _, res := range results {
					rev := res.Revision
					if res.Changed {
						fmt.Fprintf(w, "policy %s: revision %d applied (%s)\n", rev.Name, rev.Revision, short(rev.Digest))
					} else {
						fmt.Fprintf(w, "policy %s: unchanged (revision %d)\n", rev.Name, rev.Revision)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "policy file to apply (repeatable)")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) policyListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List policies at their current revisions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := m.client().Policies(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(ps, func(w io.Writer) error {
				if len(ps) == 0 {
					fmt.Fprintln(w, "no policies; apply one with `shipgate policy apply -f FILE`")
					return nil
				}
				for _, p := range ps {
					fmt.Fprintf(w, "%-24s revision %-3d %-4s %s  %s by %s\n", p.Name, p.Revision, p.Origin, p.Filename, fmtTime(p.AppliedAt), p.AppliedBy)
				}
				return nil
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) policyShowCommand() *cobra.Command {
	var rev int
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a policy's source at its current revision, or --revision N",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rev < 0 {
				return fmt.Errorf("--revision must be 1 or more")
			}
			p, err := m.client().Policy(cmd.Context(), args[0], rev)
			if err != nil {
				return err
			}
			// render escapes every control character of p; the source is
			// many lines, so it keeps its newlines and tabs.
			src := shipgate.EscapeText(p.Source, "\n\t")
			return m.render(p, func(w io.Writer) error {
				fmt.Fprintf(w, "# policy %s revision %d (%s) from %s, %s, applied %s by %s\n", p.Name, p.Revision, p.Digest, p.Filename, p.Origin, fmtTime(p.AppliedAt), p.AppliedBy)
				_, err := io.WriteString(w, src)
				if !strings.HasSuffix(src, "\n") {
					fmt.Fprintln(w)
				}
				return err
			})
		},
	}
	cmd.Flags().IntVar(&rev, "revision", 0, "the revision to show (default: the current one)")
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) policyDecisionsCommand() *cobra.Command {
	var f shipgate.PolicyDecisionFilter
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "List recorded policy decisions, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := m.client().PolicyDecisions(cmd.Context(), f)
			if err != nil {
				return err
			}
			return m.render(ds, func(w io.Writer) error {
				if len(ds) == 0 {
					fmt.Fprintln(w, "no policy decisions")
				}
				for _, d := range ds {
					printDecision(w, &d)
				}
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&f.ReleaseID, "release", 0, "only this release's decisions")
	cmd.Flags().StringVar(&f.Point, "point", "", "only decisions at this point (create, approve, start, promote)")
	cmd.Flags().StringVar(&f.Result, "result", "", "only decisions with this result (allow, deny, error)")
	cmd.Flags().Int64Var(&f.AfterID, "after", 0, "only decisions with a larger id (paging)")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (default and maximum 1000)")
	m.addOutputFlag(cmd)
	return cmd
}

// printDecision writes a decision and its messages.
func printDecision(w io.Writer, d *shipgate.PolicyDecision) {
	rel := "release " + strconv.FormatInt(d.ReleaseID, 10)
	if d.ReleaseID == 0 {
		rel = "no release (refused create)"
	}
	label := "decision " + strconv.FormatInt(d.ID, 10)
	if d.ID == 0 {
		label = "dry run" // policy eval: nothing recorded, nothing to replay
	}
	fmt.Fprintf(w, "%s  %-7s at %-7s %s  %s/%s  by %s  %s  policies %s  bundle %s\n", label, strings.ToUpper(d.Result), d.Point, rel,
		d.Service, d.Environment, d.Actor, fmtTime(d.At), strings.Join(d.Policies, ","), short(d.BundleDigest))
	for _, msg := range d.Deny {
		fmt.Fprintf(w, "  deny: %s\n", msg)
	}
	for _, msg := range d.Warn {
		fmt.Fprintf(w, "  warn: %s\n", msg)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", d.Error)
	}
}

func (m *Main) policyReplayCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay DECISION_ID",
		Short: "Evaluate a recorded decision again under its recorded policy bundle; exit 1 unless the result is the same byte for byte",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a decision id", args[0])
			}
			rp, err := m.client().ReplayPolicyDecision(cmd.Context(), id)
			if err != nil {
				return err
			}
			if err := m.render(rp, func(w io.Writer) error {
				printDecision(w, &rp.Decision)
				if rp.Match {
					fmt.Fprintf(w, "replay: identical (%s)\n", rp.Decision.ResultDigest)
				} else {
					fmt.Fprintf(w, "replay: DIFFERENT\n  recorded: %s\n  replayed: %s\n", rp.Recorded, rp.Replayed)
				}
				return nil
			}); err != nil {
				return err
			}
			if !rp.Match {
				return &exitError{code: 1, msg: fmt.Sprintf("replay of decision %d does not reproduce the recorded result", id)}
			}
			return nil
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) policyEvalCommand() *cobra.Command {
	var (
		release int64
		rng     string
		since   string
		point   string
		dir     string
	)
	cmd := &cobra.Command{
		Use:   "eval --point POINT (--release N | --releases A..B | --since 30d) [--policy-dir DIR]",
		Short: "Dry run: judge releases by their environments' policies, or by proposed ones, recording nothing",
		Long: `Dry run: judge releases at a point by the policies their environments name
(current revisions), with the policies in --policy-dir replacing those of
the same name and added for every release. Each release is judged as of
its creation time, with its evidence and approvals as they are now.
Nothing is recorded. Prints each verdict and what would have been blocked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := client.PolicyEvalRequest{Point: point}
			given := 0
			if release != 0 {
				req.Releases, given = []int64{release}, given+1
			}
			if rng != "" {
				a, b, ok := strings.Cut(rng, "..")
				from, err1 := strconv.ParseInt(a, 10, 64)
				to, err2 := strconv.ParseInt(b, 10, 64)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("--releases %q: use A..B, e.g. 10..42", rng)
				}
				req.From, req.To, given = from, to, given+1
			}
			if since != "" {
				d, err := parseAge(since)
				if err != nil {
					return err
				}
				req.Since, given = time.Now().Add(-d).UTC().Format(time.RFC3339), given+1
			}
			if given != 1 {
				return fmt.Errorf("name the releases in one way: --release N, --releases A..B or --since 30d")
			}
			if dir != "" {
				files, err := policyFiles(dir)
				if err != nil {
					return err
				}
				for _, f := range files {
					src, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					req.Proposed = append(req.Proposed, client.PolicyFile{Filename: filepath.Base(f), Source: string(src)})
				}
			}
			res, err := m.client().EvalPolicies(cmd.Context(), req)
			if err != nil {
				return err
			}
			return m.render(res, func(w io.Writer) error {
				for _, d := range res.Results {
					printDecision(w, &d)
				}
				fmt.Fprintf(w, "%d of %d releases would have been blocked at %s\n", res.Blocked, len(res.Results), res.Point)
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&release, "release", 0, "judge this release")
	cmd.Flags().StringVar(&rng, "releases", "", "judge the releases with ids A..B (inclusive)")
	cmd.Flags().StringVar(&since, "since", "", "judge the releases created in this past period (30d, 12h, 90m)")
	enumFlag(cmd, &point, "point", "", "approve", "the point to judge at", shipgate.PolicyPoints, "point")
	cmd.Flags().StringVar(&dir, "policy-dir", "", "proposed policies (*.rego) to judge by in place of the stored ones of the same name")
	m.addOutputFlag(cmd)
	return cmd
}

// parseAge reads 30d, 12h, 90m (days, or any Go duration).
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %q: use a period such as 30d, 12h or 90m", s)
	}
	return d, nil
}

func (m *Main) policyTestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test DIR…",
		Short: "Run the Rego unit tests (rules named test_*) of policies and their *_test.rego files, locally",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sum, err := policy.RunTests(cmd.Context(), m.Stdout, args...)
			if err != nil {
				return fmt.Errorf("%s", shipgate.ErrorMessage(err))
			}
			fmt.Fprintf(m.Stdout, "%d passed, %d failed, %d errors, %d skipped\n", sum.Passed, sum.Failed, sum.Errors, sum.Skipped)
			switch {
			case sum.Failed > 0 || sum.Errors > 0:
				return &exitError{code: 1, msg: "policy tests failed"}
			case sum.Passed == 0:
				return &exitError{code: 1, msg: "no policy tests found (rules named test_*)"}
			}
			return nil
		},
	}
	return cmd
}

// printPolicyWarnings shows on stderr the warn messages of the newest
// decision recorded for release id at point.
func (m *Main) printPolicyWarnings(ctx context.Context, id int64, point string) {
	ds, err := m.client().PolicyDecisions(ctx, shipgate.PolicyDecisionFilter{ReleaseID: id, Point: point})
	if err != nil {
		return // the release was made; the warnings are in `policy decisions`
	}
	if len(ds) == 0 {
		return
	}
	d := ds[len(ds)-1] // the decision just made
	for _, w := range d.Warn {
		fmt.Fprintf(m.Stderr, "warning: policy (decision %d, at %s): %s\n", d.ID, point, w)
	}
}
