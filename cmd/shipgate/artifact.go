package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/spf13/cobra"
)

func (m *Main) artifactCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "The server's artifact store: list it, gc it",
		Long: `Releases pin their artifact's bytes: at creation the server copies them into
its artifact store (serve --artifact-store), and agents are served from there
only. gc removes what no release can still need: it keeps every artifact of a
release that is not final and of every release that succeeded (any of them may
be restored by a rollback), and anything stored within the grace period.`,
	}
	cmd.AddCommand(m.artifactListCommand(), m.artifactGCCommand())
	return cmd
}

func (m *Main) artifactListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored artifacts, the releases that pin them, and whether gc keeps them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := m.client().Artifacts(cmd.Context())
			if err != nil {
				return err
			}
			return m.render(list, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SHA256\tSIZE\tSTORED\tRELEASES\tGC")
				for _, a := range list {
					verdict := "removes: "
					if a.Keep {
						verdict = "keeps: "
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.SHA256[:12], bytesString(a.Size), fmtTime(a.StoredAt), refsString(a.Releases), verdict+a.Why)
				}
				return tw.Flush()
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}

func (m *Main) artifactGCCommand() *cobra.Command {
	var req client.ArtifactGCRequest
	var graceFlag string
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [--grace 1h]",
		Short: "Remove stored artifacts no release can still need (admin; audited)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := shipgate.ParseDuration(graceFlag)
			if err != nil {
				return fmt.Errorf("--grace: %s", err)
			}
			grace := g.Std()
			if grace < httpapi.DefaultArtifactTimeout {
				fmt.Fprintf(m.Stderr, "warning: --grace %s is shorter than the %s a release creation may spend downloading its artifact: an artifact stored by a creation still in flight can be removed, and that release's jobs would then fail\n", grace, httpapi.DefaultArtifactTimeout)
			}
			req.Grace = grace.String()
			res, err := m.client().CollectArtifacts(cmd.Context(), req)
			if err != nil {
				return err
			}
			return m.render(res, func(w io.Writer) error {
				verb := "removed"
				if res.DryRun {
					verb = "would remove"
				}
				for _, a := range res.Removed {
					fmt.Fprintf(w, "%s %s (%s): %s\n", verb, a.SHA256, bytesString(a.Size), a.Why)
				}
				_, err := fmt.Fprintf(w, "%s %s (%s); kept %d (%s)\n", verb, plural(len(res.Removed), "artifact"), bytesString(res.FreedBytes), res.Kept, bytesString(res.KeptBytes))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "say what would be removed; remove nothing")
	cmd.Flags().StringVar(&graceFlag, "grace", shipgate.DefaultArtifactGrace.String(), "keep artifacts stored more recently than this, e.g. 1h or 1d (a release being created stores its artifact before it exists; keep it above 10m)")
	m.addOutputFlag(cmd)
	return cmd
}

// plural is "1 artifact", "2 artifacts".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func refsString(refs []shipgate.ArtifactRef) string {
	if len(refs) == 0 {
		return "none"
	}
	var parts []string
	for i, r := range refs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(refs)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d %s", r.ReleaseID, r.State))
	}
	return strings.Join(parts, ", ")
}

// bytesString is n in bytes, KiB, MiB or GiB, whichever reads best.
func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
