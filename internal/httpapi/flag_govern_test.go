package httpapi_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/httpapi"
)

const governedFlagsYAML = `apiVersion: shipgate/v1
kind: Service
metadata: {name: shop}
spec:
  flags:
    - key: new-checkout
      type: boolean
      variants: {on: true, off: false}
      default_variant: on
      safe_variant: off
  environments:
    - name: staging
    - name: production
      flag_approvals: {required: 1, from_groups: [release-managers]}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
`

// TestFlagChangesOverTheAPI: a change where flag_approvals require one
// waits (202) and says who may approve; its requester cannot approve it;
// another approver applies it; a kill applies at once (200) with its
// reason, and a second kill is refused; the reads show it all.
func TestFlagChangesOverTheAPI(t *testing.T) {
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "shop.yaml", []byte(governedFlagsYAML)); err != nil {
		t.Fatal(err)
	}
	carol := f.client("carol")
	f.addUser(t, "dave", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	dave := f.client("dave")

	// Staging has no flag approvals: applied at once.
	c, err := carol.ChangeFlag(ctx, "shop", "staging", "new-checkout", client.FlagChangeRequest{Op: shipgate.FlagOpDisable, Reason: "try it"})
	if err != nil || c.State != shipgate.FlagChangeApplied || !c.After.Disabled {
		t.Fatalf("staging disable: %+v %v", c, err)
	}
	// Production waits.
	rollout := &shipgate.FlagRollout{Split: []shipgate.FlagSplit{{Variant: "on", Percent: 10}, {Variant: "off", Percent: 90}}}
	c, err = carol.ChangeFlag(ctx, "shop", "production", "new-checkout", client.FlagChangeRequest{Op: shipgate.FlagOpRollout, Reason: "ramp up", Rollout: rollout})
	if err != nil || c.State != shipgate.FlagChangePending {
		t.Fatalf("production rollout: %+v %v", c, err)
	}
	if !strings.Contains(c.Awaiting, "dave may approve") || strings.Contains(c.Awaiting, "carol may") {
		t.Fatalf("awaiting = %q", c.Awaiting)
	}
	_, err = carol.ApproveFlagChange(ctx, c.ID, "")
	if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "never self-approved") {
		t.Fatalf("self-approval: %v", err)
	}
	view, err := carol.Flag(ctx, "shop", "production", "new-checkout")
	if err != nil || len(view.Pending) != 1 || view.Flag.Flag.Rollout != nil {
		t.Fatalf("view before approval: %+v %v", view, err)
	}
	ok, err := dave.ApproveFlagChange(ctx, c.ID, "looks fine")
	if err != nil || ok.State != shipgate.FlagChangeApplied || ok.DecidedBy != "dave" {
		t.Fatalf("approve: %+v %v", ok, err)
	}
	view, _ = carol.Flag(ctx, "shop", "production", "new-checkout")
	if len(view.Pending) != 0 || !reflect.DeepEqual(view.Flag.Flag.Rollout, rollout) || view.Changes[0].Approvals[0].Approver != "dave" {
		t.Fatalf("view after approval: %+v", view)
	}

	// The kill never waits.
	k, err := carol.KillFlag(ctx, "shop", "production", "new-checkout", "INC-7 checkout errors")
	if err != nil || k.State != shipgate.FlagChangeApplied || k.Op != shipgate.FlagOpKill || !k.After.Disabled {
		t.Fatalf("kill: %+v %v", k, err)
	}
	ev := f.lastEvent(t)
	if ev.Action != shipgate.ActionFlagKilled || ev.Actor != "carol" || !strings.Contains(string(ev.Details), `"reason":"INC-7 checkout errors"`) || !strings.Contains(string(ev.Details), `"severity":"incident"`) {
		t.Fatalf("kill audit = %+v %s", ev, ev.Details)
	}
	if _, err := carol.KillFlag(ctx, "shop", "production", "new-checkout", "again"); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "killed already") {
		t.Fatalf("second kill: %v", err)
	}
	if _, err := carol.KillFlag(ctx, "shop", "production", "new-checkout", ""); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("kill without reason: %v", err)
	}
	// A viewer reads but may not kill.
	if _, err := f.client("viewer").KillFlag(ctx, "shop", "staging", "new-checkout", "x"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		t.Fatalf("viewer kill: %v", err)
	}
	all, err := f.client("viewer").ListFlags(ctx, "shop", "production")
	if err != nil || len(all) != 1 || !all[0].Flag.Disabled {
		t.Fatalf("list: %+v %v", all, err)
	}
	changes, err := f.client("viewer").ListFlagChanges(ctx, client.FlagChangeQuery{Service: "shop", Environment: "production", State: shipgate.FlagChangeApplied})
	if err != nil || len(changes) != 3 || changes[0].Op != shipgate.FlagOpKill {
		t.Fatalf("changes: %+v %v", changes, err)
	}
	if status, out := f.raw(t, "GET", "/api/v1/flag-changes?state=bogus", f.tokens["viewer"], nil); status != 400 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "pending, applied") {
		t.Fatalf("bad state: %d %v", status, out)
	}
	// Enabling afterwards needs approval again; a rejection by the
	// requester withdraws it.
	c, err = carol.ChangeFlag(ctx, "shop", "production", "new-checkout", client.FlagChangeRequest{Op: shipgate.FlagOpEnable, Reason: "fixed in 1.4.1"})
	if err != nil || c.State != shipgate.FlagChangePending {
		t.Fatalf("enable: %+v %v", c, err)
	}
	if _, err := carol.RejectFlagChange(ctx, c.ID, ""); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("reject without comment: %v", err)
	}
	r, err := carol.RejectFlagChange(ctx, c.ID, "wrong day")
	if err != nil || r.State != shipgate.FlagChangeRejected {
		t.Fatalf("withdraw: %+v %v", r, err)
	}
	if _, err := dave.ApproveFlagChange(ctx, c.ID, ""); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "is rejected") {
		t.Fatalf("approve a rejected change: %v", err)
	}
}

// TestFlagChangeSupersededOverTheAPI: approving a change after the flag
// moved on records it superseded and answers 409 saying so.
func TestFlagChangeSupersededOverTheAPI(t *testing.T) {
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "shop.yaml", []byte(governedFlagsYAML)); err != nil {
		t.Fatal(err)
	}
	carol := f.client("carol")
	f.addUser(t, "dave", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	dave := f.client("dave")
	c, err := carol.ChangeFlag(ctx, "shop", "production", "new-checkout", client.FlagChangeRequest{Op: shipgate.FlagOpDisable, Reason: "calm"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.KillFlag(ctx, "shop", "production", "new-checkout", "INC-8"); err != nil {
		t.Fatal(err)
	}
	_, err = dave.ApproveFlagChange(ctx, c.ID, "")
	if shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "superseded") {
		t.Fatalf("approve after kill: %v", err)
	}
	got, _ := carol.ListFlagChanges(ctx, client.FlagChangeQuery{State: shipgate.FlagChangeSuperseded})
	if len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("superseded = %+v", got)
	}
}

// TestFlagSchemasMatchGoTypes: the flag schemas of openapi.json describe
// every field of their Go types, as TestSchemasMatchGoTypes does for the
// others.
func TestFlagSchemasMatchGoTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(httpapi.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	for schema, v := range map[string]any{
		"FlagState": shipgate.FlagState{}, "FlagChange": shipgate.FlagChange{}, "FlagChangeApproval": shipgate.FlagChangeApproval{},
		"FlagView": client.FlagView{}, "FlagChangeRequest": client.FlagChangeRequest{}, "FlagKillRequest": client.FlagKillRequest{},
	} {
		s := doc.Components.Schemas[schema]
		fields, always := jsonFields(reflect.TypeOf(v))
		for _, name := range fields {
			if _, ok := s.Properties[name]; !ok {
				t.Errorf("%s lacks %q", schema, name)
			}
		}
		for _, name := range always {
			if !slices.Contains(s.Required, name) {
				t.Errorf("%s does not require %q", schema, name)
			}
		}
		if len(s.Properties) != len(fields) {
			t.Errorf("%s describes %d properties, %T has %d", schema, len(s.Properties), v, len(fields))
		}
	}
}
