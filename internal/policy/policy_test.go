package policy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/policy"
)

var ctx = context.Background()

func bundle(mods ...string) shipgate.PolicyBundle {
	b := shipgate.PolicyBundle{}
	for _, src := range mods {
		name, err := policy.NameOf("x.rego", src)
		if err != nil {
			panic(err)
		}
		b.Modules = append(b.Modules, shipgate.PolicyModule{Name: name, Revision: 1, Filename: name + ".rego", Source: src})
	}
	return b
}

func release() *shipgate.Release {
	r := &shipgate.Release{ID: 7, State: shipgate.StatePendingApproval, Generation: 3}
	r.Service, r.Environment, r.Version = "shop", "production", "1.2.3"
	r.Inputs = map[string]string{"ticket": "CHG-1"}
	r.SecretInputs = map[string]string{"db_password": "fingerprint-not-a-secret"}
	r.Policy = shipgate.Environment{Name: "production", Policies: []string{"a"}}
	return r
}

func TestInputDocument(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 30, 0, 0, time.FixedZone("X", 3600))
	raw, err := policy.Input(policy.Facts{Point: "approve", Release: release(), Actor: "alice", Time: at,
		Approvals: []shipgate.Approval{{Actor: "bob", Decision: "approve", CreatedAt: at}}})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"actor", "approvals", "current_release", "environment", "evidence", "point", "release", "time"}; !slices.Equal(keys, want) {
		t.Fatalf("top level %v; want %v", keys, want)
	}
	s := string(raw)
	for _, want := range []string{`"time":"2026-05-01T08:30:00Z"`, `"current_release":null`, `"secret_inputs":["db_password"]`, `"evidence":{"items":[]}`,
		`"inputs":{"ticket":"CHG-1"}`, `"approvals":[{"actor":"bob","at":"2026-05-01T08:30:00Z","comment":"","counts":true,"decision":"approve","digest":""}]`} {
		if !strings.Contains(s, want) {
			t.Errorf("input lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "fingerprint-not-a-secret") || strings.Contains(s, "generation") {
		t.Fatalf("input shows what it must not: %s", s)
	}
	again, _ := policy.Input(policy.Facts{Point: "approve", Release: release(), Actor: "alice", Time: at,
		Approvals: []shipgate.Approval{{Actor: "bob", Decision: "approve", CreatedAt: at}}})
	if string(again) != s {
		t.Fatal("the same facts gave different bytes")
	}
}

func TestCanonical(t *testing.T) {
	a, _ := policy.Canonical(map[string]any{"b": 1.50, "a": []any{"<&>", 2}})
	b, _ := policy.Canonical(json.RawMessage(`{ "a": ["<&>", 2], "b": 1.5 }`))
	if string(a) != `{"a":["<&>",2],"b":1.5}` || string(a) != string(b) {
		t.Fatalf("canonical: %s vs %s", a, b)
	}
}

func TestEvaluate(t *testing.T) {
	c, err := policy.Compile(bundle(`package shipgate.a

deny contains "no ticket" if not input.release.inputs.ticket
deny contains "no ticket" if not input.release.inputs.ticket
warn contains sprintf("judged at %d", [time.now_ns()])
deny contains {"structured": true} if input.release.inputs.ticket == "obj"
`, `package shipgate.b

deny contains msg if {
	to_number(input.release.inputs.ticket) > 1
	msg := "big"
}
`))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := release()
	r.Inputs = map[string]string{}
	d, err := c.Decide(ctx, policy.Facts{Point: "create", Release: r, Actor: "carol", Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if d.Result != shipgate.PolicyDeny || !slices.Equal(d.Deny, []string{"a: no ticket"}) || !slices.Equal(d.Warn, []string{"a: judged at 1767323045000000000"}) {
		t.Fatalf("decision %+v", d.PolicyResult)
	}
	if d.Policies[0] != "a" || d.Policies[1] != "b" || !strings.HasPrefix(d.BundleDigest, "sha256:") || d.InputDigest != policy.Digest([]byte(d.Input)) {
		t.Fatalf("decision fields %+v", d)
	}
	// Replayed later, under the same bundle: the same bytes.
	got, want, err := policy.Replay(ctx, c.Bundle(), d)
	if err != nil || string(got) != string(want) {
		t.Fatalf("replay: %v\n%s\n%s", err, got, want)
	}
	// A bundle other than the recorded one is refused, not compared.
	if _, _, err := policy.Replay(ctx, bundle("package shipgate.a\n"), d); err == nil {
		t.Fatal("replay under another bundle")
	}
	// An evaluation error (to_number of a word) is an error result.
	r.Inputs = map[string]string{"ticket": "abc"}
	d, _ = c.Decide(ctx, policy.Facts{Point: "create", Release: r, Actor: "carol", Time: at})
	if d.Result != shipgate.PolicyError || !strings.Contains(d.Error, "b: ") || !strings.Contains(d.Error, "to_number") || !d.Blocks() {
		t.Fatalf("evaluation error: %+v", d.PolicyResult)
	}
	// Messages need not be strings: they are shown as canonical JSON.
	only, err := policy.Compile(shipgate.PolicyBundle{Modules: c.Bundle().Modules[:1]})
	if err != nil {
		t.Fatal(err)
	}
	r.Inputs = map[string]string{"ticket": "obj"}
	d, _ = only.Decide(ctx, policy.Facts{Point: "create", Release: r, Actor: "carol", Time: at})
	if d.Result != shipgate.PolicyDeny || !slices.Contains(d.Deny, `a: {"structured":true}`) {
		t.Fatalf("structured message: %+v", d.PolicyResult)
	}
}

func TestDenyMustBeASet(t *testing.T) {
	c, err := policy.Compile(bundle("package shipgate.a\n\ndeny := true\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := c.Decide(ctx, policy.Facts{Point: "create", Release: release(), Time: time.Now()})
	if d.Result != shipgate.PolicyError || !strings.Contains(d.Error, "shipgate.a.deny is a boolean, not a set of messages") {
		t.Fatalf("deny := true: %+v", d.PolicyResult)
	}
}

func TestCompileProblems(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"package shipgate.a\n\ndeny contains x if {\n\tx := rand.intn(\"k\", 9)\n}\n", "a.rego:4: rego_type_error: unsafe built-in function calls in expression: rand.intn"},
		{"package shipgate.a\n\ndeny contains x if {\n\tx := input.y\n\tx := 2\n}\n", "a.rego:"},
	} {
		_, err := policy.Compile(bundle(c.src))
		var ce *policy.CompileError
		if err == nil || !strings.Contains(err.Error(), c.want) || shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Errorf("compile %q: %v (%T %v); want %q", c.src, err, err, ce, c.want)
		}
	}
	if _, err := policy.Parse("b", "b.rego", "package shipgate.a\n"); err == nil || !strings.Contains(err.Error(), `b.rego:1: package is shipgate.a; policy "b" must be package shipgate.b`) {
		t.Fatalf("wrong package: %v", err)
	}
}

// A service's owner and runbook reach policies as input.release.owner and
// input.release.runbook (frozen into the release at creation).
func TestInputCarriesOwnerAndRunbook(t *testing.T) {
	r := release()
	r.Owner, r.Runbook = "payments-team", "https://wiki.example.com/payments"
	raw, err := policy.Input(policy.Facts{Point: "create", Release: r, Actor: "alice", Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"owner":"payments-team"`, `"runbook":"https://wiki.example.com/payments"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("input lacks %s:\n%s", want, raw)
		}
	}
}

// TestNoBuiltinReachesOutside: json.match_schema and json.verify_schema
// follow a schema's $ref over HTTP and to local files (the server fetches
// or reads what a policy names, past the egress policy); ECDSA JWT
// signing is random and x509 chain verification reads the wall clock, so
// none of them replays. All are refused at compile, and no evaluation
// reaches a server.
func TestNoBuiltinReachesOutside(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; w.Write([]byte(`{"type":"string"}`)) }))
	defer srv.Close()
	for _, call := range []string{
		`json.match_schema("\"x\"", {"$ref": "` + srv.URL + `/s.json"})`,
		`json.verify_schema({"$ref": "` + srv.URL + `/s.json"})`,
		`json.verify_schema({"$ref": "file:///etc/passwd"})`,
		`io.jwt.encode_sign({"alg": "ES256"}, {}, {})`,
		`io.jwt.encode_sign_raw("{}", "{}", "{}")`,
		`crypto.x509.parse_and_verify_certificates("x")`,
	} {
		src := "package shipgate.a\n\ndeny contains x if {\n\tr := " + call + "\n\tx := sprintf(\"%v\", [r])\n}\n"
		c, err := policy.Compile(bundle(src))
		if err == nil {
			c.Evaluate(ctx, []byte(`{}`), time.Now())
			t.Errorf("%s compiles", call)
			continue
		}
		if !strings.Contains(err.Error(), "a.rego:4: rego_type_error: unsafe built-in function calls") {
			t.Errorf("%s: %v", call, err)
		}
	}
	if hits != 0 {
		t.Fatalf("a policy made the server fetch %d times", hits)
	}
}

// A unit-test module applied by mistake (policy apply -f pol/*.rego) is
// refused, as --policy-dir skips *_test.rego.
func TestTestModuleIsNotAPolicy(t *testing.T) {
	_, err := policy.NameOf("ticket_test.rego", "package shipgate.ticket_test\n\ntest_x if true\n")
	if err == nil || !strings.Contains(err.Error(), "ticket_test.rego:1: package shipgate.ticket_test is a Rego unit-test module") {
		t.Fatalf("NameOf of a test module: %v", err)
	}
}
