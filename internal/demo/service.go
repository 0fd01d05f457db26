package demo

import (
	"fmt"
	"strings"
)

// Service is the demo's first service file: deploy restarts the demo app
// from the release's artifact, and a health gate decides.
func Service(bin, dir string, port, delay int) string {
	return fmt.Sprintf(`apiVersion: shipgate/v1
kind: Service
metadata:
  name: demo
spec:
  environments:
    - name: production
      approvals: { required: 0 }
      rollback: { enabled: true, check_target: health, delay_seconds: %d, mode: last_successful }
  pipeline:
    jobs:
      - name: deploy
        timeout: 1m
        steps:
          - name: replace the running version
            run: exec %q demo-app restart --dir %q --port %d --config "$SHIPGATE_ARTIFACT_PATH"
      - name: health
        needs: [deploy]
        check:
          http: { url: "http://127.0.0.1:%d/healthz", expect_status: 200, json_path: status, json_equals: ok, timeout: 1s }
          interval: 1s
          pass_after: 2
          fail_after: 3
          timeout: 1m
`, delay, bin, dir, port, port)
}

// AppService is a service file with one job, rollout, that runs this
// binary's demo app as a supervised service fronted on listen and moved by
// strategy (YAML for the job's strategy: key, written from column 0). The
// production environment needs no approval and rolls back by policy when
// the rollout fails. runsOn and timeout, when set, are the job's runs_on
// (flow YAML) and timeout. The demo and the canary tests share it.
func AppService(name, bin, listen, runsOn, timeout, strategy string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: shipgate/v1
kind: Service
metadata:
  name: %s
spec:
  environments:
    - name: production
      approvals: { required: 0 }
      rollback: { enabled: true, check_target: rollout, delay_seconds: 0, mode: last_successful }
  pipeline:
    jobs:
      - name: rollout
`, name)
	if runsOn != "" {
		fmt.Fprintf(&b, "        runs_on: %s\n", runsOn)
	}
	if timeout != "" {
		fmt.Fprintf(&b, "        timeout: %s\n", timeout)
	}
	fmt.Fprintf(&b, `        service:
          exec: [%q, demo-app, --config, "${ARTIFACT_PATH}", --listen, "127.0.0.1:${PORT}"]
          listen: %s
          health: { path: /healthz, interval: 200ms }
          stop_grace: 2s
        strategy:
`, bin, listen)
	for _, line := range strings.Split(strings.TrimRight(strategy, "\n"), "\n") {
		b.WriteString("          " + line + "\n")
	}
	return b.String()
}
