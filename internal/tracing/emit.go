package tracing

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Emitter turns the audit chain into spans: a job attempt's span (and its
// rollout steps') when the attempt finishes, a release's root span and its
// approval and queue spans when the release reaches a final state. It
// runs on the leader; its cursor is kept in the store, so a restart or a
// new leader goes on where the last stopped.
type Emitter struct {
	DB     *sqlstore.DB
	Tracer trace.Tracer
	IDs    IDs
	Logger *slog.Logger
	// Every is how often the audit chain is read; 0 means 2s.
	Every time.Duration
}

// batch bounds the events read per pass.
const batch = 500

// Run emits spans until ctx ends.
func (e *Emitter) Run(ctx context.Context) {
	every := e.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for {
			n, err := e.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil && e.Logger != nil {
					e.Logger.Warn("emit release spans; retrying", "err", err)
				}
				break
			}
			if n < batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			// One last pass, so what ended just before a clean stop leaves
			// with this process (the cursor's compare-and-set keeps a new
			// leader from emitting it too).
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			e.RunOnce(last)
			return
		case <-t.C:
		}
	}
}

// RunOnce emits the spans of the next audit events and moves the cursor
// past them; it returns how many events it read.
func (e *Emitter) RunOnce(ctx context.Context) (int, error) {
	var spans []span
	var cursor, last int64
	var n int
	// Read without holding the write lock; the cursor moves only if no
	// other emitter moved it meanwhile.
	err := e.DB.View(ctx, func(tx *sqlstore.Tx) error {
		spans, n = nil, 0
		var err error
		if cursor, err = tx.TraceCursor(ctx); err != nil {
			return err
		}
		events, err := tx.ListAudit(ctx, shipgate.AuditFilter{AfterSeq: cursor, Limit: batch})
		if err != nil {
			return err
		}
		n = len(events)
		for _, ev := range events {
			s, err := e.spansOf(ctx, tx, ev)
			if err != nil {
				return err
			}
			spans = append(spans, s...)
			last = ev.Seq
		}
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	var moved bool
	if err := e.DB.Update(ctx, func(tx *sqlstore.Tx) (err error) {
		moved, err = tx.AdvanceTraceCursor(ctx, cursor, last)
		return err
	}); err != nil {
		return 0, err
	}
	if !moved {
		return 0, nil // another emitter took these events
	}
	// Emitted after the cursor moved: a crash in between loses spans
	// rather than repeating them (a span seen twice is worse in most
	// backends than one missing).
	for _, s := range spans {
		e.emit(s)
	}
	return n, nil
}

// span is one span to emit, with the ids it must have.
type span struct {
	name       string
	trace      trace.TraceID
	id, parent trace.SpanID
	start, end time.Time
	attrs      []attribute.KeyValue
	links      []trace.Link
	failed     string // the error status's description; "" is ok
}

func (e *Emitter) emit(s span) {
	ctx := context.WithValue(context.Background(), idKey{}, wantIDs{trace: s.trace, span: s.id})
	if s.parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: s.trace, SpanID: s.parent, TraceFlags: trace.FlagsSampled, Remote: true}))
	}
	if s.end.Before(s.start) {
		s.end = s.start
	}
	_, sp := e.Tracer.Start(ctx, s.name, trace.WithTimestamp(s.start), trace.WithAttributes(s.attrs...),
		trace.WithLinks(s.links...), trace.WithSpanKind(trace.SpanKindInternal))
	if s.failed != "" {
		sp.SetStatus(codes.Error, s.failed)
	}
	sp.End(trace.WithTimestamp(s.end))
}

// details is what span-making reads of an event's details.
type details struct {
	Job     string `json:"job"`
	Run     int    `json:"run"`
	Attempt int    `json:"attempt"`
	Runner  string `json:"runner"`
	Reason  string `json:"reason"`
	Step    *int   `json:"step"`
	From    *int   `json:"weight_from"`
	To      *int   `json:"weight_to"`
	Canary  string `json:"canary_version"`
}

func parse(ev shipgate.AuditEvent) details {
	var d details
	_ = json.Unmarshal(ev.Details, &d) // a detail missing leaves a zero value
	return d
}

func (e *Emitter) spansOf(ctx context.Context, tx *sqlstore.Tx, ev shipgate.AuditEvent) ([]span, error) {
	switch ev.Action {
	case shipgate.ActionJobFinished, shipgate.ActionReleaseSucceeded, shipgate.ActionReleaseFailed, shipgate.ActionReleaseCancelled:
	default:
		return nil, nil
	}
	rid, ok := shipgate.ReleaseIDOf(ev.Subject)
	if !ok {
		return nil, nil
	}
	r, err := tx.FindRelease(ctx, rid)
	if shipgate.ErrorCode(err) == shipgate.ENOTFOUND {
		return nil, nil // nothing to trace; not a reason to stop at this event
	}
	if err != nil {
		return nil, err
	}
	// The release's events up to this one: where each phase started.
	history, err := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: rid, UpToSeq: ev.Seq, Limit: 10000})
	if err != nil {
		return nil, err
	}
	if ev.Action == shipgate.ActionJobFinished {
		jobs, err := tx.ListJobs(ctx, r.ID, parse(ev).Run)
		if err != nil {
			return nil, err
		}
		return e.jobSpans(r, ev, history, jobs), nil
	}
	return e.releaseSpans(r, ev, history), nil
}

func (e *Emitter) releaseAttrs(r *shipgate.Release) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.Int64("shipgate.release.id", r.ID),
		attribute.String("shipgate.service", r.Service),
		attribute.String("shipgate.environment", r.Environment),
		attribute.String("shipgate.version", r.Version),
	}
}

// runParent is the span a run's spans hang from: the root for the first
// run, the run's own span for a rerun.
func (e *Emitter) runParent(rid int64, run int) trace.SpanID {
	if run <= 1 {
		return e.IDs.Root(rid)
	}
	return e.IDs.span("run", rid, run)
}

// jobSpans are the spans of the attempt whose end is ev: the attempt's,
// and its rollout steps'. jobs are the run's jobs as they are now.
func (e *Emitter) jobSpans(r *shipgate.Release, ev shipgate.AuditEvent, history []shipgate.AuditEvent, jobs []shipgate.JobRun) []span {
	d := parse(ev)
	if d.Job == "" {
		return nil
	}
	key := shipgate.AttemptKey{ReleaseID: r.ID, Run: d.Run, Job: d.Job, Attempt: d.Attempt}
	start := ev.At
	var rollout []shipgate.AuditEvent
	for _, h := range history {
		hd := parse(h)
		if hd.Job != d.Job || hd.Run != d.Run || hd.Attempt != d.Attempt {
			continue
		}
		switch h.Action {
		case shipgate.ActionJobStarted:
			start = h.At
		case shipgate.ActionRolloutStep, shipgate.ActionRolloutPaused, shipgate.ActionRolloutPromoted, shipgate.ActionRolloutAborted, shipgate.ActionRolloutDone:
			rollout = append(rollout, h)
		}
	}
	failed := d.Reason
	for _, j := range jobs {
		if j.Name == d.Job && j.Attempt == d.Attempt && j.State == shipgate.JobSucceeded {
			failed = ""
		} else if j.Name == d.Job && failed == "" && j.State != shipgate.JobSucceeded {
			failed = "the attempt did not succeed (" + string(j.State) + ")"
		}
	}
	attrs := append(e.releaseAttrs(r), attribute.String("shipgate.job", d.Job), attribute.Int("shipgate.run", d.Run),
		attribute.Int("shipgate.attempt", d.Attempt), attribute.String("shipgate.runner", d.Runner))
	tid, jid := e.IDs.Trace(r.ID), e.IDs.Job(key)
	out := []span{{name: "job " + d.Job, trace: tid, id: jid, parent: e.runParent(r.ID, d.Run), start: start, end: ev.At, attrs: attrs, failed: failed}}
	// A rollout step lasts from its weight change to the rollout's next
	// event (or the job's end).
	for i, h := range rollout {
		if h.Action != shipgate.ActionRolloutStep {
			continue
		}
		hd := parse(h)
		end := ev.At
		if i+1 < len(rollout) {
			end = rollout[i+1].At
		}
		a := []attribute.KeyValue{attribute.String("shipgate.job", d.Job), attribute.String("shipgate.canary_version", hd.Canary)}
		if hd.Step != nil {
			a = append(a, attribute.Int("shipgate.rollout.step", *hd.Step))
		}
		if hd.From != nil && hd.To != nil {
			a = append(a, attribute.Int("shipgate.rollout.weight_from", *hd.From), attribute.Int("shipgate.rollout.weight_to", *hd.To))
		}
		var fail string
		if i+1 < len(rollout) && rollout[i+1].Action == shipgate.ActionRolloutAborted {
			fail = "the rollout was aborted: " + parse(rollout[i+1]).Reason
		}
		out = append(out, span{name: "rollout.step", trace: tid, id: e.IDs.span("rollout", h.Seq), parent: jid,
			start: h.At, end: end, attrs: a, failed: fail})
	}
	return out
}

func (e *Emitter) releaseSpans(r *shipgate.Release, ev shipgate.AuditEvent, history []shipgate.AuditEvent) []span {
	// This run started at the release's creation or at its rerun.
	run, runStart := 1, r.CreatedAt
	var queued, started time.Time
	for _, h := range history {
		switch h.Action {
		case shipgate.ActionReleaseRerun:
			// A rerun queues the release again at once.
			run, runStart, queued, started = run+1, h.At, h.At, time.Time{}
		case shipgate.ActionReleaseQueued:
			queued = h.At
		case shipgate.ActionReleaseStarted:
			started = h.At
		}
	}
	tid := e.IDs.Trace(r.ID)
	outcome := map[string]string{shipgate.ActionReleaseSucceeded: "succeeded", shipgate.ActionReleaseFailed: "failed",
		shipgate.ActionReleaseCancelled: "cancelled"}[ev.Action]
	var failed string
	if ev.Action == shipgate.ActionReleaseFailed {
		failed = parse(ev).Reason
		if failed == "" {
			failed = "the release failed"
		}
	}
	attrs := append(e.releaseAttrs(r), attribute.String("shipgate.outcome", outcome), attribute.Int("shipgate.run", run),
		attribute.String("shipgate.kind", r.Kind), attribute.String("shipgate.owner", r.Owner))
	if r.Source.Commit != "" {
		attrs = append(attrs, attribute.String("vcs.ref.head.revision", r.Source.Commit))
	}
	var out []span
	if run == 1 {
		root := span{name: "release", trace: tid, id: e.IDs.Root(r.ID), start: r.CreatedAt, end: ev.At, attrs: attrs, failed: failed}
		if r.RollbackOf != 0 {
			root.attrs = append(root.attrs, attribute.Int64("shipgate.rollback_of", r.RollbackOf))
			root.links = append(root.links, trace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: e.IDs.Trace(r.RollbackOf), SpanID: e.IDs.Root(r.RollbackOf), TraceFlags: trace.FlagsSampled, Remote: true}),
				Attributes: []attribute.KeyValue{attribute.String("shipgate.link", "rolls_back")}})
		}
		out = append(out, root)
		end := queued
		if end.IsZero() {
			end = ev.At // never queued: rejected, or cancelled while waiting
		}
		out = append(out, span{name: "release.approval", trace: tid, id: e.IDs.span("approval", r.ID), parent: root.id,
			start: r.CreatedAt, end: end, attrs: e.releaseAttrs(r)})
	} else {
		out = append(out, span{name: "release.run", trace: tid, id: e.runParent(r.ID, run), parent: e.IDs.Root(r.ID),
			start: runStart, end: ev.At, attrs: attrs, failed: failed})
	}
	if !queued.IsZero() {
		end := started
		if end.IsZero() {
			end = ev.At // cancelled while queued
		}
		out = append(out, span{name: "release.queue", trace: tid, id: e.IDs.span("queue", r.ID, run), parent: e.runParent(r.ID, run),
			start: queued, end: end, attrs: e.releaseAttrs(r)})
	}
	return out
}
