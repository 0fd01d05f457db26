package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// printReleaseFlags shows the flags a release introduces (release create
// --flag) and the flags its rollback policy flips when it fails.
func printReleaseFlags(w io.Writer, r *shipgate.Release) {
	if len(r.Flags) > 0 {
		fmt.Fprintf(w, "  flags:     %s (introduced by this release)\n", strings.Join(r.Flags, ", "))
	}
	if ms := r.Policy.Rollback.Mitigations; len(ms) > 0 && r.Kind != shipgate.ReleaseKindRollback {
		parts := make([]string, len(ms))
		for i, m := range ms {
			v := m.Variant
			if v == "" {
				v = "its safe variant"
			}
			parts[i] = m.Flag + " → " + v
		}
		when := "if it fails"
		if !r.Policy.Rollback.Enabled {
			when += ", instead of a redeploy"
		}
		fmt.Fprintf(w, "  mitigates: %s (%s)\n", strings.Join(parts, ", "), when)
	}
}

// timelineSummary is what the timeline shows of an event: its details as
// key=value, except for the events that read better as a sentence.
func timelineSummary(e shipgate.AuditEvent) string {
	if e.Action == shipgate.ActionReleaseMitigated {
		var rec shipgate.ReleaseMitigation
		if json.Unmarshal(e.Details, &rec) == nil && len(rec.Flags) > 0 {
			return shipgate.EscapeText("flags flipped: "+shipgate.DescribeFlips(rec.Flags)+" — because "+rec.Reason, "")
		}
	}
	return summarize(e.Details)
}

// flipsLine says which flags the failure of the release's current run
// flipped ("" when none): release wait prints it under the final state.
func flipsLine(v *client.ReleaseView) string {
	var flips []shipgate.FlagFlip
	for _, e := range v.Timeline {
		if e.Action != shipgate.ActionReleaseMitigated {
			continue
		}
		var rec shipgate.ReleaseMitigation
		if json.Unmarshal(e.Details, &rec) == nil && rec.Run == v.Run {
			flips = append(flips, rec.Flags...)
		}
	}
	if len(flips) == 0 {
		return ""
	}
	return shipgate.EscapeText("flags flipped: "+shipgate.DescribeFlips(flips), "")
}
