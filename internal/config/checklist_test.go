package config_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

const governed = `apiVersion: shipgate/v1
kind: Service
metadata:
  name: shop
spec:
  owner: payments-team
  runbook: https://wiki.example.com/shop/runbook
  environments:
    - name: production
      approvals: { required: 1 }
      checklist:
        - name: coverage
          automated: { evidence: "coverage.line_percent >= 80" }
        - name: no high findings
          gate: start
          automated: { evidence: "scan.high + scan.critical == 0" }
        - name: change ticket
          manual: { owner: release-managers, evidence: link required }
  pipeline:
    jobs:
      - name: deploy
        steps: [{ run: "true" }]
`

func TestParseChecklistOwnerRunbook(t *testing.T) {
	spec, err := config.ParseService("svc.yaml", []byte(governed))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Owner != "payments-team" || spec.Runbook != "https://wiki.example.com/shop/runbook" {
		t.Fatalf("owner %q runbook %q", spec.Owner, spec.Runbook)
	}
	cl := spec.Environments[0].Checklist
	if len(cl) != 3 || cl[0].GateOf() != "approve" || cl[1].Gate != "start" || cl[2].Manual.Owner != "release-managers" {
		t.Fatalf("%+v", cl)
	}
	if w := spec.ChecklistWarnings(); len(w) != 0 {
		t.Fatalf("warnings %v", w)
	}
}

func TestParseChecklistErrorsHaveLines(t *testing.T) {
	for name, tt := range map[string]struct{ from, to, want string }{
		"bad condition": {`"coverage.line_percent >= 80"`, `"coverage.line_percent => 80"`, "svc.yaml:13: "},
		"unknown key":   {`automated: { evidence:`, `automated: { evidense:`, `svc.yaml:13: `},
		"bad gate":      {`gate: start`, `gate: merge`, `svc.yaml:15: gate "merge" is not known`},
		"both kinds": {`manual: { owner: release-managers, evidence: link required }`, `manual: { owner: release-managers }
          automated: { evidence: "sbom present" }`, "either automated or manual"},
		"bad evidence": {`evidence: link required`, `evidence: screenshot`, `svc.yaml:18: evidence "screenshot" is not known`},
		"http runbook": {`https://wiki.example.com`, `http://wiki.example.com`, `svc.yaml:7: runbook`},
		"bad owner":    {`owner: payments-team`, `owner: "Payments Team"`, `svc.yaml:6: owner "Payments Team"`},
	} {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(governed, tt.from, tt.to, 1)
			_, err := config.ParseService("svc.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v; want %q", err, tt.want)
			}
		})
	}
}

func TestLongChecklistWarns(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 11; i++ {
		b.WriteString("        - name: item" + string(rune('a'+i)) + "\n          automated: { evidence: \"sbom present\" }\n")
	}
	src := strings.Replace(governed, "        - name: coverage\n", b.String()+"        - name: coverage\n", 1)
	spec, err := config.ParseService("svc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if w := spec.ChecklistWarnings(); len(w) != 1 || !strings.Contains(w[0].Message, "14 items") {
		t.Fatalf("%v", w)
	}
}

func TestServerConfigOverrideGroup(t *testing.T) {
	cfg, err := config.ParseServerConfig("server.yaml", []byte("freezes:\n  override_group: incident-commanders\n"), func(string) string { return "" })
	if err != nil || cfg.Freezes.OverrideGroup != "incident-commanders" {
		t.Fatalf("%v %+v", err, cfg)
	}
	if _, err := config.ParseServerConfig("server.yaml", []byte("freezes:\n  overide_group: x\n"), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "server.yaml:2") {
		t.Fatalf("unknown key: %v", err)
	}
}
