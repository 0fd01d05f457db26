package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/spf13/cobra"
)

func (m *Main) auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read, export and verify the hash-chained audit log"}
	verify := m.auditVerifyCommand()
	var since string
	var release int64
	parseFilter := func() (shipgate.AuditFilter, error) {
		f := shipgate.AuditFilter{ReleaseID: release}
		if since != "" {
			t, err := parseSince(since)
			if err != nil {
				return f, err
			}
			f.Since = &t
		}
		return f, nil
	}
	var exportFormat string
	export := &cobra.Command{
		Use:   "export [--since T] [--release ID]",
		Short: "Write audit events as JSON Lines (one object per line)",
		Long: `Write audit events, oldest first, as JSON Lines (one object per line): one
event per line, streamed as it is read, for archives and line-oriented tools
(jq -c, grep). -o json and -o jsonl both mean JSON Lines; it is never one JSON
document. The log is read as one stream (GET /api/v1/audit/stream), page by
page from a server from before the stream; a stream cut off is an error,
after the lines already written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilter()
			if err != nil {
				return err
			}
			n := 0
			_, _, err = m.client().EachAuditEvent(cmd.Context(), f, func(e *shipgate.AuditEvent) error {
				n++
				return jsonLine(m.Stdout, e)
			})
			if err == nil && n == 0 {
				err = m.noSuchRelease(cmd.Context(), f.ReleaseID)
			}
			return err
		},
	}
	enumFlag(export, &exportFormat, "output", "o", "json", "output format of audit export", []string{"json", "jsonl"}, "output format: JSON Lines (one object per line) either way")
	export.Flags().StringVar(&since, "since", "", "only events at or after this time (RFC 3339) or this long ago (e.g. 24h)")
	export.Flags().Int64Var(&release, "release", 0, "only events of this release")
	var limit int
	list := &cobra.Command{
		Use:   "list [--since T] [--release ID]",
		Short: "Show audit events for people",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilter()
			if err != nil {
				return err
			}
			var events []shipgate.AuditEvent
			_, _, err = m.client().EachAuditEvent(cmd.Context(), f, func(e *shipgate.AuditEvent) error {
				events = append(events, *e)
				if limit > 0 && len(events) > limit {
					events = events[1:]
				}
				return nil
			})
			if err != nil {
				return err
			}
			if events == nil {
				if err := m.noSuchRelease(cmd.Context(), f.ReleaseID); err != nil {
					return err
				}
				events = []shipgate.AuditEvent{}
			}
			return m.render(events, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tSUBJECT\tDETAILS")
				for _, e := range events {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, fmtTime(e.At), e.Actor, e.Action, e.Subject, summarize(e.Details))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&since, "since", "", "only events at or after this time (RFC 3339) or this long ago (e.g. 24h)")
	list.Flags().Int64Var(&release, "release", 0, "only events of this release")
	list.Flags().IntVar(&limit, "limit", 200, "show at most the last N events (0: all)")
	m.addOutputFlag(list)
	cmd.AddCommand(verify, export, list, m.auditCheckpointCommand(), m.auditPublicKeyCommand())
	return cmd
}

// noSuchRelease explains an empty answer to --release id: an error when
// release id does not exist. Events may name a release that does not
// exist (a refused request for it), so it is asked only when none came;
// a release that exists with no events in the range is no error.
func (m *Main) noSuchRelease(ctx context.Context, id int64) error {
	if id <= 0 {
		return nil
	}
	_, err := m.client().Release(ctx, id)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return fmt.Errorf("release %d does not exist, and no audit event names it: see `shipgate release list`", id)
	}
	return nil // it exists, or whether it does is not ours to know (no read permission)
}

func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := shipgate.ParseDuration(s); err == nil {
		return time.Now().Add(-d.Std()), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time nor a duration", s)
}

func jsonLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
