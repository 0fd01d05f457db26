package notify

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
)

// The official CDEvents v0.4.1 schemas, vendored unchanged (see the
// README there). Every event a webhook sink can receive is validated
// against them: the spec we say we follow, not our own idea of it.
const cdeventsSchemaDir = "testdata/cdevents-v0.4.1"

var (
	schemasOnce sync.Once
	schemasErr  error
	cdSchemas   map[string]*jsonschema.Schema // by $id
	envSchema   *jsonschema.Schema
)

// cloudEventEnvelope is what CloudEvents 1.0 requires of a structured-mode
// event (the attributes shipgate sets), with formats asserted.
const cloudEventEnvelope = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://shipgate.test/cloudevent-envelope",
  "type": "object",
  "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
  "properties": {
    "specversion": {"const": "1.0"},
    "id": {"type": "string", "minLength": 1},
    "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
    "type": {"type": "string", "minLength": 1},
    "subject": {"type": "string", "minLength": 1},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "data": {"type": "object"}
  }
}`

// loadSchemas compiles every vendored schema, registered by its $id so
// that "links/embeddedlinksarray" and the like resolve offline. The
// compiler has no loader for https: a reference to anything not vendored
// fails instead of reaching the network.
func loadSchemas(t *testing.T) {
	t.Helper()
	schemasOnce.Do(func() { schemasErr = compileSchemas() })
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
}

func compileSchemas() error {
	var files []string
	for _, glob := range []string{"schemas/*.json", "schemas/links/*.json", "custom/schema.json"} {
		m, err := filepath.Glob(filepath.Join(cdeventsSchemaDir, glob))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	if len(files) < 40 {
		return fmt.Errorf("found only %d schema files under %s", len(files), cdeventsSchemaDir)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var ids []string
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			return fmt.Errorf("%s has no $id", f)
		}
		if err := c.AddResource(id, doc); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		ids = append(ids, id)
	}
	env, err := jsonschema.UnmarshalJSON(strings.NewReader(cloudEventEnvelope))
	if err != nil {
		return err
	}
	if err := c.AddResource("https://shipgate.test/cloudevent-envelope", env); err != nil {
		return err
	}
	if envSchema, err = c.Compile("https://shipgate.test/cloudevent-envelope"); err != nil {
		return err
	}
	cdSchemas = map[string]*jsonschema.Schema{}
	for _, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			return fmt.Errorf("compile %s: %v", id, err)
		}
		cdSchemas[id] = s
	}
	return nil
}

// schemaFor finds the schema of a CDEvents type: a standard type
// dev.cdevents.<subject>.<predicate>.<version> has schemas/<subject><predicate>.json
// (whose type enum then checks the version); a custom dev.cdeventsx.* type
// has custom/schema.json. Anything else has none, and that is a failure:
// a new type must be one of the spec's.
func schemaFor(typ string) (*jsonschema.Schema, error) {
	if strings.HasPrefix(typ, "dev.cdeventsx.") {
		return cdSchemas["https://cdevents.dev/0.4.1/schema/custom"], nil
	}
	rest, ok := strings.CutPrefix(typ, "dev.cdevents.")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 5 {
		return nil, fmt.Errorf("type %q is not a CDEvents type (dev.cdevents.<subject>.<predicate>.<version> or dev.cdeventsx.<tool>-<subject>.<predicate>.<version>)", typ)
	}
	file := filepath.Join(cdeventsSchemaDir, "schemas", parts[0]+parts[1]+".json")
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("type %q: no CDEvents v0.4.1 schema (%v)", typ, err)
	}
	var head struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	s := cdSchemas[head.ID]
	if s == nil {
		return nil, fmt.Errorf("type %q: schema %s was not compiled", typ, head.ID)
	}
	return s, nil
}

// validateCloudEvent checks one webhook body: the CloudEvents envelope,
// the CDEvent in data against the schema of its type, and the CloudEvents
// binding of CDEvents (the envelope's id, source, type, time and subject
// are the CDEvent's). It returns the CDEvent.
func validateCloudEvent(body []byte) (map[string]any, error) {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	if err := envSchema.Validate(inst); err != nil {
		return nil, fmt.Errorf("CloudEvents envelope: %v", err)
	}
	ce := inst.(map[string]any)
	data := ce["data"].(map[string]any)
	cdctx, _ := data["context"].(map[string]any)
	subject, _ := data["subject"].(map[string]any)
	typ, _ := cdctx["type"].(string)
	s, err := schemaFor(typ)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(data); err != nil {
		return nil, fmt.Errorf("CDEvent %s: %v", typ, err)
	}
	for _, b := range []struct{ ce, cd string }{
		{"id", "id"}, {"source", "source"}, {"type", "type"}, {"time", "timestamp"},
	} {
		if ce[b.ce] != cdctx[b.cd] {
			return nil, fmt.Errorf("CloudEvent %s %v is not the CDEvent's context.%s %v", b.ce, ce[b.ce], b.cd, cdctx[b.cd])
		}
	}
	if ce["subject"] != subject["id"] {
		return nil, fmt.Errorf("CloudEvent subject %v is not the CDEvent's subject.id %v (the CloudEvents binding says MUST)", ce["subject"], subject["id"])
	}
	if ce["datacontenttype"] != "application/json" {
		return nil, fmt.Errorf("datacontenttype %v", ce["datacontenttype"])
	}
	return data, nil
}

// cdeventsDetails are realistic audit details for each action that
// notifies (what the reconciler and the API write). An action added to
// Actions without an entry here fails the test until one is written.
var cdeventsDetails = map[string][]map[string]any{
	shipgate.ActionReleaseStarted:   {{"run": 1, "jobs": 2}},
	shipgate.ActionReleaseSucceeded: {{"run": 1, "kind": "deploy"}},
	shipgate.ActionReleaseFailed: {
		{"run": 1, "reason": "job deploy failed: exit status 1", "failed_job": "deploy", "kind": "deploy"},
		{"run": 1, "reason": "", "failed_job": "deploy", "kind": "deploy"},
	},
	shipgate.ActionRollbackPending:     {{"target_release": 3, "target_version": "1.0.0", "fires_at": "2026-03-02T10:05:00Z"}},
	shipgate.ActionRollbackUnavailable: {{"reason": "no earlier release of web succeeded in production"}},
	shipgate.ActionRollbackCalledOff: {
		{"reason": "the check recovered"},
		{"reason": "a newer release superseded it", "superseded_by": 9},
		{"reason": "the errors came from the load balancer", "called_by": "person", "from_state": "held", "target_release": 3, "target_version": "1.0.0"},
	},
	shipgate.ActionRollbackHeld:    {{"target_version": "1.0.0"}},
	shipgate.ActionRollbackFired:   {{"target_release": 3, "target_version": "1.0.0", "triggered_by": "policy"}},
	shipgate.ActionRollbackFailed:  {{"reason": "rollback release 8 failed"}},
	shipgate.ActionAuditCheckpoint: {{}}, // rendered by CheckpointOutbox, not classify
	// The person-needed notifications (person.go). approval.needed is the
	// filter name of release.created / release.approvals_lapsed of a
	// release that waits for approvals (see cdeventsAuditAction).
	FilterApprovalNeeded:                   {{"approvals_required": 2}},
	shipgate.ActionApprovalExpired:         {{"approver": "alice", "expired_after": "24h0m0s"}},
	shipgate.ActionRolloutPaused:           {{"job": "deploy", "step": 2, "weight": 25}},
	shipgate.ActionRolloutAborted:          {{"job": "deploy", "step": 2, "reason": "p90 latency judged worse"}},
	shipgate.ActionReleaseRejected:         {{"reason": "not during the sale"}, {}},
	shipgate.ActionReleaseCancelled:        {{"reason": "superseded"}, {}},
	shipgate.ActionFreezeOverrideRequested: {{"reason": "checkout is down"}},
	shipgate.ActionFreezeOverrideApproved:  {{"reason": "checkout is down", "requested_by": "carol", "group": "incident-commanders"}},
	shipgate.ActionAttentionReminded: {
		{"reason": shipgate.AttentionApproval, "reminder": 1, "of": 3},
		{"reason": shipgate.AttentionPromote, "reminder": 2, "of": 3},
	},
	shipgate.ActionAttentionEscalated: {{"reason": shipgate.AttentionApproval}, {"reason": shipgate.AttentionPromote}},
	shipgate.ActionAttentionResolved: {
		{"reason": shipgate.AttentionApproval, "escalated": true, "state": "queued"},
		{"reason": shipgate.AttentionPromote, "escalated": true, "state": "succeeded"},
		{"reason": shipgate.AttentionApproval, "escalated": false, "reminders": 2, "state": "queued"},
	},
}

// cdeventsAuditAction is the audit action that makes a notification named
// action: the same, but for approval.needed, which release.created of a
// release waiting for approvals announces.
func cdeventsAuditAction(action string) string {
	if action == FilterApprovalNeeded {
		return shipgate.ActionReleaseCreated
	}
	return action
}

// cdeventsActions are the notifications the test drives: every name a
// sink may filter on, and the audit actions that notify under another
// name (re-notifications and escalations).
func cdeventsActions() []string {
	// Flag events are about a flag, not a release: flag_test.go validates them.
	out := slices.DeleteFunc(slices.Clone(Actions), func(a string) bool { return strings.HasPrefix(a, "flag.") })
	for _, a := range personActions {
		if !slices.Contains(out, a) && a != shipgate.ActionReleaseCreated && a != shipgate.ActionApprovalsLapsed {
			out = append(out, a)
		}
	}
	return out
}

// cdeventsReleases are the releases an event may be about: a first run, a
// rerun, and a rollback release; versions with '+' and '_' as allowed.
func cdeventsReleases() []*shipgate.Release {
	base := func(id int64, version string) *shipgate.Release {
		r := &shipgate.Release{ID: id, Run: 1}
		r.Service, r.Environment, r.Version, r.Kind = "web", "production", version, shipgate.ReleaseKindDeploy
		r.Artifact = shipgate.Artifact{Location: "dist/web.tgz", SHA256: strings.Repeat("ab", 32), Size: 10}
		return r
	}
	rerun := base(5, "2.0.0-rc.1+build_7")
	rerun.Run = 2
	rb := base(8, "1.0.0")
	rb.Kind, rb.RollbackOf = shipgate.ReleaseKindRollback, 5
	pending := base(9, "2.1.0")
	pending.Run, pending.State = 0, shipgate.StatePendingApproval
	pending.Policy.Approvals.Required = 2
	return []*shipgate.Release{base(4, "2.0.0"), rerun, rb, pending}
}

// cdeventsEnqueuers are the server configurations rendering differs by.
func cdeventsEnqueuers() []*Enqueuer {
	sinks := []config.Sink{{Name: "hook", Type: config.SinkWebhook, URL: "https://hooks.example.com/x"}}
	return []*Enqueuer{
		{Sinks: sinks, Source: "shipgate/build-host-1"},
		{Sinks: sinks, Source: "shipgate/build%20host", PublicURL: "https://shipgate.example.com/ops"},
	}
}

// The release's link in events: under public_url when it is set (what a
// person or tool can open), else the API path relative to the server.
func TestEventLinksUsePublicURL(t *testing.T) {
	loadSchemas(t)
	r := cdeventsReleases()[0]
	for _, tc := range []struct{ publicURL, want string }{
		{"", "/api/v1/releases/4"},
		{"https://shipgate.example.com/ops", "https://shipgate.example.com/ops/api/v1/releases/4"},
	} {
		q := cdeventsEnqueuers()[0]
		q.PublicURL = tc.publicURL
		for _, action := range []string{shipgate.ActionReleaseStarted, shipgate.ActionReleaseFailed, shipgate.ActionRollbackPending} {
			ev, ok := classify(shipgate.NewAuditEvent(shipgate.SystemActor, action, "release/4", map[string]any{"reason": "x"}), r)
			if !ok {
				t.Fatalf("%s does not notify", action)
			}
			body, err := q.render(q.Sinks[0], ev)
			if err != nil {
				t.Fatal(err)
			}
			data, err := validateCloudEvent(body)
			if err != nil {
				t.Fatal(err)
			}
			content := data["subject"].(map[string]any)["content"].(map[string]any)
			custom := data["customData"].(map[string]any)
			if content["url"] != tc.want || custom["url"] != tc.want {
				t.Errorf("%s with public_url %q: url %v / %v, want %s", action, tc.publicURL, content["url"], custom["url"], tc.want)
			}
		}
	}
}

// TestEveryEventValidatesAgainstCDEvents drives every action in Actions,
// through every branch of classify (deploy, rerun and rollback releases;
// system and human actors; each detail variant) and the checkpoint
// notification, through the webhook renderer, and validates each body.
func TestEveryEventValidatesAgainstCDEvents(t *testing.T) {
	loadSchemas(t)
	at := time.Date(2026, 3, 2, 10, 0, 0, 123456000, time.UTC)
	seenTypes := map[string]bool{}
	for _, action := range cdeventsActions() {
		variants, ok := cdeventsDetails[action]
		if !ok {
			t.Errorf("action %s notifies but has no case in cdeventsDetails: add its audit details so its events are validated", action)
			continue
		}
		notified := 0
		for qi, q := range cdeventsEnqueuers() {
			if action == shipgate.ActionAuditCheckpoint {
				cp := shipgate.AuditCheckpoint{Seq: 42, Hash: strings.Repeat("cd", 32), At: at, KeyID: "a0665cd0236e2e50", Signature: "c2ln"}
				out, err := q.CheckpointOutbox(t.Context(), cp)
				if err != nil || len(out) != 1 {
					t.Fatalf("checkpoint: %v %v", out, err)
				}
				if _, err := validateCloudEvent([]byte(out[0].Payload)); err != nil {
					t.Errorf("checkpoint (enqueuer %d): %v\n%s", qi, err, out[0].Payload)
				}
				seenTypes[out[0].EventType] = true
				notified++
				continue
			}
			for _, r := range cdeventsReleases() {
				for _, actor := range []string{shipgate.SystemActor, "alice"} {
					for di, d := range variants {
						e := shipgate.NewAuditEvent(actor, cdeventsAuditAction(action), fmt.Sprintf("release/%d", r.ID), d)
						e.Seq, e.At = 100+int64(di), at
						ev, ok := classify(e, r)
						if !ok {
							continue
						}
						notified++
						seenTypes[ev.Type] = true
						name := fmt.Sprintf("%s release %d (%s run %d) by %s, details %d, enqueuer %d", action, r.ID, r.Kind, r.Run, actor, di, qi)
						body, err := q.render(q.Sinks[0], ev)
						if err != nil {
							t.Errorf("%s: render: %v", name, err)
							continue
						}
						if _, err := validateCloudEvent(body); err != nil {
							t.Errorf("%s: %v\n%s", name, err, body)
						}
					}
				}
			}
		}
		if notified == 0 {
			t.Errorf("action %s is in Actions but no case made it notify", action)
		}
	}
	// Each branch of classify was taken (a case list that stopped reaching
	// one would otherwise pass by validating less).
	for _, typ := range []string{
		"dev.cdevents.pipelinerun.started.0.2.0", "dev.cdevents.pipelinerun.finished.0.2.0",
		"dev.cdevents.service.deployed.0.2.0", "dev.cdevents.service.rolledback.0.2.0",
	} {
		if !seenTypes[typ] {
			t.Errorf("no case produced %s", typ)
		}
	}
	t.Logf("validated %d event types: %v", len(seenTypes), sortedTypes(seenTypes))
}

func sortedTypes(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestCDEventsSchemaLookupRefusesUnknownTypes: a type the spec does not
// define has no schema, and validation fails rather than passing on
// nothing.
func TestCDEventsSchemaLookupRefusesUnknownTypes(t *testing.T) {
	loadSchemas(t)
	for _, typ := range []string{
		"dev.shipgate.audit.checkpoint.v1", "dev.cdevents.release.approved.0.1.0", "dev.cdevents.service.deployed", "", "dev.cdevents.",
	} {
		if s, err := schemaFor(typ); err == nil {
			t.Errorf("type %q: found schema %v, want none", typ, s)
		}
	}
	// A known type at a version the spec does not have fails on the enum.
	body := `{"specversion":"1.0","id":"x","source":"s","type":"dev.cdevents.service.deployed.0.1.0","subject":"web/production","time":"2026-03-02T10:00:00Z","datacontenttype":"application/json",
"data":{"context":{"version":"0.4.1","id":"x","source":"s","type":"dev.cdevents.service.deployed.0.1.0","timestamp":"2026-03-02T10:00:00Z"},
"subject":{"id":"web/production","type":"service","content":{"environment":{"id":"production"},"artifactId":"pkg:generic/web@1"}}}}`
	if _, err := validateCloudEvent([]byte(body)); err == nil || !strings.Contains(err.Error(), "dev.cdevents.service.deployed.0.1.0") {
		t.Errorf("wrong version accepted: %v", err)
	}
	valid := strings.ReplaceAll(body, ".0.1.0", ".0.2.0")
	if _, err := validateCloudEvent([]byte(valid)); err != nil {
		t.Errorf("a valid service.deployed refused: %v", err)
	}
	// Formats are asserted, and the binding's equalities checked.
	for _, bad := range []struct{ old, new string }{
		{`"source":"s"`, `"source":"shipgate/build host"`},
		{`"timestamp":"2026-03-02T10:00:00Z"`, `"timestamp":"2026-03-02 10:00"`},
		{`"subject":"web/production"`, `"subject":"release/4"`},
		{`"id":"x","source":"s","type"`, `"id":"y","source":"s","type"`},
		{`"type":"service"`, `"type":"shipgate-service"`},
	} {
		if _, err := validateCloudEvent([]byte(strings.Replace(valid, bad.old, bad.new, 1))); err == nil {
			t.Errorf("%s accepted", bad.new)
		}
	}
}
