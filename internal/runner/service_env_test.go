package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestServiceEnvAddsFlagVariables: a service process starts with the
// variables the agent's ServiceEnv gives for its service and environment
// (the local flags endpoint, the flags' values), and the service file's
// own env overrides them.
func TestServiceEnvAddsFlagVariables(t *testing.T) {
	g := newRig(t)
	var asked []string
	g.r.ServiceEnv = func(_ context.Context, service, env string) []string {
		asked = append(asked, service+"/"+env)
		return []string{"OFREP_ENDPOINT=http://127.0.0.1:8790/environments/" + env, "SHIPGATE_FLAGS_ENVIRONMENT=" + env,
			"SHIPGATE_FLAG_NEW_CHECKOUT=false", "SHIPGATE_FLAG_BANNER=from the agent"}
	}
	in := g.deploy("1.0", map[string]string{"SHIPGATE_FLAG_BANNER": "from service.env"})
	resp, err := g.http.Get(fmt.Sprintf("http://127.0.0.1:%d/env", in.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info helperInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range info.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"OFREP_ENDPOINT": "http://127.0.0.1:8790/environments/prod", "SHIPGATE_FLAGS_ENVIRONMENT": "prod",
		"SHIPGATE_FLAG_NEW_CHECKOUT": "false", "SHIPGATE_FLAG_BANNER": "from service.env",
	} {
		if env[k] != want {
			t.Errorf("$%s = %q; want %q", k, env[k], want)
		}
	}
	if !slices.Equal(asked, []string{"shop/prod"}) {
		t.Fatalf("ServiceEnv asked for %q", asked)
	}
	if got := g.svc.Environments(); !slices.Equal(got, []string{"prod"}) {
		t.Fatalf("Environments() = %q", got)
	}
}
