package config

import (
	"strings"
	"testing"
)

func TestServiceRepository(t *testing.T) {
	src := "apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  repository: REPO\n  environments: [{name: dev}]\n  pipeline: {jobs: [{name: d, steps: [{run: \"true\"}]}]}\n"
	spec, err := ParseService("web.yaml", []byte(strings.Replace(src, "REPO", "https://github.com/acme/web", 1)))
	if err != nil || spec.Repository != "https://github.com/acme/web" {
		t.Fatalf("%+v %v", spec, err)
	}
	_, err = ParseService("web.yaml", []byte(strings.Replace(src, "REPO", "http://github.com/acme/web", 1)))
	if err == nil || !strings.Contains(err.Error(), "web.yaml:5") || !strings.Contains(err.Error(), "not an https URL") {
		t.Fatalf("an http repository: %v", err)
	}
}
