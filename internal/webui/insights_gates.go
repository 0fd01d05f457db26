package webui

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// The gate KPIs section of the Metrics page, read from GET
// /api/v1/metrics/gates with the page's filter: pass/fail and flakiness
// per gate, queue time, canary duration and aborts by reason, judge
// decisions. Each figure links to a few of the releases behind it.

// maxGateLinks bounds the release links beside one figure.
const maxGateLinks = 10

// gatesQuery is the filter in the gates route's words.
func (f insightsFilter) gatesQuery() string {
	q := url.Values{"since": {f.Window}}
	for k, v := range map[string]string{"service": f.Service, "environment": f.Environment, "team": f.Team} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// releaseLinks are the first few releases behind a figure, and how many
// more there are.
type releaseLinks struct {
	IDs  []int64
	More int
}

func linksOf(ids []int64) releaseLinks {
	if len(ids) > maxGateLinks {
		return releaseLinks{IDs: ids[:maxGateLinks], More: len(ids) - maxGateLinks}
	}
	return releaseLinks{IDs: ids}
}

type gateRow struct {
	Kind, Name              string
	Passed, Failed, Flaky   int
	Flakiness               string
	FailedLinks, FlakyLinks releaseLinks
}

type abortRow struct {
	Cause string
	Count int
	Links releaseLinks
}

type judgeRow struct {
	Metric, Judge, Verdict string
	Count                  int
	Links                  releaseLinks
}

// gatesView is the gate KPIs as the page shows them.
type gatesView struct {
	Releases               int
	Gates                  []gateRow
	JobQueue, ReleaseQueue string
	Canaries               string
	CanaryDuration         string
	Aborts                 []abortRow
	AbortedLinks           releaseLinks
	Judge                  []judgeRow
	Rework                 string
}

// ReleasesWords is how many releases the figures are over: "1 release".
func (v *gatesView) ReleasesWords() string {
	return fmt.Sprintf("%d %s", v.Releases, pluralOf(v.Releases, "release", "releases"))
}

// waitWords is a duration figure in words: "p50 2 min, p90 10 min, mean
// 4 min (12 jobs)".
func waitWords(d shipgate.DurationFigure, what string) string {
	if d.Count == 0 {
		return "nothing measured"
	}
	sec := func(s float64) string { return durationWords(time.Duration(s * float64(time.Second))) }
	return fmt.Sprintf("p50 %s, p90 %s, mean %s (%d %s)", sec(d.P50), sec(d.P90), sec(d.Mean), d.Count, what)
}

func ratePercent(f float64) string { return oneDecimal(f*100) + "%" }

func gatesViewOf(k *shipgate.GateKPIs) *gatesView {
	v := &gatesView{Releases: k.Releases,
		JobQueue:     waitWords(k.JobQueue, pluralOf(k.JobQueue.Count, "job", "jobs")),
		ReleaseQueue: waitWords(k.ReleaseQueue, pluralOf(k.ReleaseQueue.Count, "release", "releases")),
		AbortedLinks: linksOf(k.Canaries.AbortedReleases),
	}
	for _, g := range k.Gates {
		row := gateRow{Kind: g.Kind, Name: g.Name, Passed: g.Passed, Failed: g.Failed, Flaky: g.Flaky,
			Flakiness: "–", FailedLinks: linksOf(g.FailedReleases), FlakyLinks: linksOf(g.FlakyReleases)}
		if g.Failed > 0 {
			row.Flakiness = fmt.Sprintf("%s (%d of %d failures passed on a rerun)", ratePercent(g.FlakinessRate), g.Flaky, g.Failed)
		}
		v.Gates = append(v.Gates, row)
	}
	c := k.Canaries
	if c.Count == 0 {
		v.Canaries = "no canaries in this window"
	} else {
		v.Canaries = fmt.Sprintf("%d %s: %d completed, %d aborted (%s)", c.Count, pluralOf(c.Count, "canary", "canaries"), c.Completed, c.Aborted, ratePercent(c.AbortRate))
	}
	v.CanaryDuration = waitWords(c.Duration, pluralOf(c.Duration.Count, "canary", "canaries"))
	for _, a := range c.AbortReasons {
		v.Aborts = append(v.Aborts, abortRow{Cause: a.Cause, Count: a.Count, Links: linksOf(a.Releases)})
	}
	for _, j := range k.Judge {
		v.Judge = append(v.Judge, judgeRow{Metric: j.Metric, Judge: j.Judge, Verdict: strings.ReplaceAll(j.Verdict, "_", " "), Count: j.Count, Links: linksOf(j.Releases)})
	}
	r := k.Rework
	v.Rework = fmt.Sprintf("%d %s and %d %s of %s (%s)", r.Rollbacks, pluralOf(r.Rollbacks, "rollback", "rollbacks"), r.Hotfixes, pluralOf(r.Hotfixes, "hotfix", "hotfixes"), v.ReleasesWords(), ratePercent(r.Rate))
	return v
}
