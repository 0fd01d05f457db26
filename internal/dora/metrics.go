package dora

import (
	"math"
	"sort"
	"strings"
	"time"
)

// trend is the metrics of each bucket of the window: each deployment goes
// to the bucket of its time and, if it failed, of its failure's detection.
func trend(ds []*deploy, attempts []*Release, q Query) []Trend {
	w := q.Bucket.width()
	var out []Trend
	for start := q.Since; start.Before(q.Until) && len(out) < MaxBuckets; start = start.Add(w) {
		end := start.Add(w)
		if end.After(q.Until) {
			end = q.Until
		}
		out = append(out, Trend{Start: start, End: end})
	}
	bucket := func(t time.Time) int {
		if !in(t, q.Since, q.Until) {
			return -1
		}
		return min(int(t.Sub(q.Since)/w), len(out)-1)
	}
	bds := make([][]*deploy, len(out))
	bat := make([][]*Release, len(out))
	for _, d := range ds {
		i := bucket(d.at)
		if i >= 0 {
			bds[i] = append(bds[i], d)
		}
		if d.failure != nil {
			if j := bucket(d.failure.DetectedAt); j >= 0 && j != i {
				bds[j] = append(bds[j], d)
			}
		}
	}
	for _, r := range attempts {
		if i := bucket(*r.FailedAt); i >= 0 {
			bat[i] = append(bat[i], r)
		}
	}
	for i := range out {
		out[i].Metrics = metrics(bds[i], bat[i], out[i].Start, out[i].End)
	}
	return out
}

// metrics computes the numbers over [since, until): deployments by their
// time, failures by their detection.
func metrics(ds []*deploy, attempts []*Release, since, until time.Time) Metrics {
	var m Metrics
	var commit, created, approval, queue, run, recovery []float64
	secs := func(a time.Time, b *time.Time) float64 { return math.Max(0, b.Sub(a).Seconds()) }
	for _, d := range ds {
		if d.failure != nil && in(d.failure.DetectedAt, since, until) {
			m.Failures++
			if d.failure.RecoverySeconds != nil && d.failure.RecoveredAt.Before(until) {
				m.Recovered++
				recovery = append(recovery, *d.failure.RecoverySeconds)
			} else {
				m.Unrecovered++
			}
		}
		if !in(d.at, since, until) {
			continue
		}
		m.Deployments++
		if d.failure != nil {
			m.FailedDeployments++
		}
		if reworkOf(d.r) != "" {
			m.Rework++
		}
		r := d.r
		if r.Kind == "rollback" || r.SucceededAt == nil {
			continue
		}
		if r.CommittedAt != nil {
			commit = append(commit, secs(*r.CommittedAt, r.SucceededAt))
		} else {
			m.LeadTime.WithoutCommitTime++
		}
		created = append(created, secs(r.CreatedAt, r.SucceededAt))
		if r.ApprovedAt != nil {
			approval = append(approval, secs(r.CreatedAt, r.ApprovedAt))
			if r.StartedAt != nil {
				queue = append(queue, secs(*r.ApprovedAt, r.StartedAt))
			}
		}
		if r.StartedAt != nil {
			run = append(run, secs(*r.StartedAt, r.SucceededAt))
		}
	}
	for _, r := range attempts {
		if in(*r.FailedAt, since, until) {
			m.FailedAttempts++
		}
	}
	days := until.Sub(since).Hours() / 24
	if days > 0 {
		m.DeploymentsPerDay = float64(m.Deployments) / days
		m.DeploymentsPerWeek = m.DeploymentsPerDay * 7
	}
	if m.Deployments > 0 {
		cfr := float64(m.FailedDeployments) / float64(m.Deployments)
		rw := float64(m.Rework) / float64(m.Deployments)
		m.ChangeFailRate, m.ReworkRate = &cfr, &rw
	}
	m.LeadTime.CommitToSucceeded = distribution(commit)
	m.LeadTime.CreatedToSucceeded = distribution(created)
	m.LeadTime.CreatedToApproved = distribution(approval)
	m.LeadTime.ApprovedToStarted = distribution(queue)
	m.LeadTime.StartedToSucceeded = distribution(run)
	m.RecoveryTime = distribution(recovery)
	return m
}

// distribution reports the nearest-rank p50 and p90 of xs: the smallest
// value with at least p% of the values at or below it.
func distribution(xs []float64) Duration {
	d := Duration{N: len(xs)}
	if len(xs) == 0 {
		return d
	}
	sort.Float64s(xs)
	rank := func(p float64) *float64 {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		v := xs[max(i, 0)]
		return &v
	}
	d.P50, d.P90 = rank(0.5), rank(0.9)
	return d
}

// breakdown is the metrics per service and environment, production first.
func breakdown(ds []*deploy, attempts []*Release, q Query) []Breakdown {
	groups := map[target][]*deploy{}
	teams := map[target]string{}
	for _, d := range ds {
		k := target{d.r.Service, d.r.Environment}
		groups[k] = append(groups[k], d)
		teams[k] = d.r.Team
	}
	att := map[target][]*Release{}
	for _, r := range attempts {
		k := target{r.Service, r.Environment}
		att[k] = append(att[k], r)
		if _, ok := groups[k]; !ok {
			groups[k] = nil
			teams[k] = r.Team
		}
	}
	out := []Breakdown{}
	for k, g := range groups {
		m := metrics(g, att[k], q.Since, q.Until)
		if m.Deployments == 0 && m.Failures == 0 && m.FailedAttempts == 0 {
			continue
		}
		out = append(out, Breakdown{Service: k.service, Environment: k.env, Team: teams[k], Metrics: m})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if pa, pb := IsProduction(a.Environment), IsProduction(b.Environment); pa != pb {
			return pa
		}
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		return a.Service < b.Service
	})
	return out
}

// IsProduction reports whether an environment's name says production
// ("production", "prod", or starting with "prod-"/"production-"); those
// come first in a breakdown.
func IsProduction(env string) bool {
	e := strings.ToLower(env)
	return e == "production" || e == "prod" || strings.HasPrefix(e, "prod-") || strings.HasPrefix(e, "production-")
}
