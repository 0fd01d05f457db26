package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// inputsService declares inputs at the service level and overrides one in
// production; rollback on failure of health (which fails when asked).
const inputsService = `apiVersion: shipgate/v1
kind: Service
metadata: {name: web}
spec:
  inputs:
    - {name: greeting, default: hello, pattern: "[a-z]+", description: what the app says}
    - {name: region, pattern: "eu|us"}
    - {name: db_password, secret: true}
  environments:
    - name: staging
    - name: production
      rollback: {enabled: true, check_target: health, delay_seconds: 0, mode: last_successful}
      inputs:
        - {name: region, required: true, pattern: "eu"}
  pipeline:
    jobs:
      - name: deploy
        steps: [{run: "true"}]
      - name: health
        needs: [deploy]
        check: {http: {url: "http://127.0.0.1:1/"}, fail_after: 2}
`

func createWithInputs(db *sqlstore.DB, env, version string, inputs map[string]string, secrets ...string) (*shipgate.Release, error) {
	var r *shipgate.Release
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		nr := sqlstore.NewRelease{Service: "web", Environment: env, Version: version, Artifact: testutil.Artifact(version), Inputs: inputs, CreatedBy: "carol"}
		if len(secrets) > 0 {
			nr.Secrets = map[string]sqlstore.SealedSecret{}
			for _, s := range secrets {
				nr.Secrets[s] = sqlstore.SealedSecret{Sealed: []byte("sealed"), Fingerprint: "hmac-sha256:00"}
			}
		}
		var err error
		r, err = reconcile.CreateRelease(ctx, tx, nr)
		return err
	})
	return r, err
}

func countAllReleases(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	n := 0
	db.View(ctx, func(tx *sqlstore.Tx) error {
		rs, err := tx.ListReleases(ctx, shipgate.ReleaseFilter{Limit: 1000})
		n = len(rs)
		return err
	})
	return n
}

// testCreateReleaseInputs: the store checks a new release's inputs against
// the declarations of the service revision it freezes, inside the
// transaction, so no caller gets around them; refused releases leave
// nothing behind.
func testCreateReleaseInputs(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, inputsService)
	before := verify(t, db)
	refused := []struct {
		name    string
		env     string
		inputs  map[string]string
		secrets []string
		want    string
	}{
		{"typo", "staging", map[string]string{"greting": "hi"}, nil, `unknown input "greting"; did you mean "greeting"?`},
		{"pattern", "staging", map[string]string{"greeting": "Hi!"}, nil, `input "greeting" = "Hi!" does not match the pattern "[a-z]+"`},
		{"required in production", "production", nil, nil, `input "region" is required`},
		{"production's own pattern", "production", map[string]string{"region": "us"}, nil, `does not match the pattern "eu"`},
		{"secret given plain", "staging", map[string]string{"db_password": "x"}, nil, `input "db_password" is declared secret`},
		{"plain given secret", "staging", nil, []string{"region"}, `input "region" is not declared secret`},
	}
	for _, tt := range refused {
		_, err := createWithInputs(db, tt.env, "1.0", tt.inputs, tt.secrets...)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	if n := countAllReleases(t, db); n != 0 || verify(t, db) != before {
		t.Fatalf("refused releases left %d releases and %d events", n, verify(t, db)-before)
	}

	// The default is filled in and frozen: the digest covers it, and a
	// later default changes nothing.
	r, err := createWithInputs(db, "staging", "1.0", map[string]string{"region": "us"}, "db_password")
	if err != nil {
		t.Fatal(err)
	}
	got := find(db, r.ID)
	if got.Inputs["greeting"] != "hello" || len(got.DefaultedInputs) != 1 || got.DefaultedInputs[0] != "greeting" || len(got.InputDeclarations) != 3 {
		t.Fatalf("frozen inputs: %v defaulted %v declarations %+v", got.Inputs, got.DefaultedInputs, got.InputDeclarations)
	}
	if got.Digest != got.ReleaseContent.Digest() {
		t.Fatal("digest does not cover the frozen content")
	}
	changed := got.ReleaseContent
	changed.Inputs = map[string]string{"region": "us", "greeting": "howdy"}
	if changed.Digest() == got.Digest {
		t.Fatal("the digest does not cover the filled-in default")
	}
	testutil.MustApply(t, db, strings.Replace(inputsService, "default: hello", "default: howdy", 1))
	if again := find(db, r.ID); again.Digest != got.Digest || again.Inputs["greeting"] != "hello" {
		t.Fatalf("re-applying changed the release: %v", again.Inputs)
	}
	// Production merges its override: region required and only "eu".
	p, err := createWithInputs(db, "production", "1.0", map[string]string{"region": "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if d := find(db, p.ID).InputDeclarations; len(d) != 3 || d[1].Name != "region" || !d[1].Required || d[1].Pattern != "eu" {
		t.Fatalf("production declarations %+v", d)
	}
	events := actionsOf(db, p.ID)
	if !strings.Contains(events, "carol:release.created") {
		t.Fatalf("events %s", events)
	}

	// A service that declares nothing takes any input, as before.
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r2, err := createWithInputs(db, "staging", "2.0", map[string]string{"greting": "hi"})
	if err != nil || find(db, r2.ID).InputDeclarations != nil {
		t.Fatalf("undeclared service: %v", err)
	}
	// inputs: [] allows none.
	testutil.MustApply(t, db, strings.Replace(testutil.ServiceYAML, "spec:\n", "spec:\n  inputs: []\n", 1))
	if _, err := createWithInputs(db, "staging", "3.0", map[string]string{"greeting": "hi"}); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "declares no inputs") {
		t.Fatalf("inputs: []: %v", err)
	}
	// A caller that checked another revision is told to try again.
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "3.0", Artifact: testutil.Artifact("3.0"), CreatedBy: "carol", CheckedRevision: 1})
		return err
	})
	if shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("stale revision: %v", err)
	}
}

// testRollbackKeepsInputs: a rollback release restores the inputs (and
// their declarations) of the release it copies, even when the service's
// declarations changed since in a way those inputs would now fail.
func testRollbackKeepsInputs(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, inputsService)
	v1, err := createWithInputs(db, "production", "1.0", map[string]string{"region": "eu", "greeting": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	reconcileAll(t, db)
	if got := runTo(t, db, v1.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("v1 %s", got.State)
	}
	// The new revision drops greeting, renames region and requires a new
	// input: v1's inputs would all be refused now.
	testutil.MustApply(t, db, strings.NewReplacer(
		`    - {name: greeting, default: hello, pattern: "[a-z]+", description: what the app says}`+"\n", "",
		`{name: region, pattern: "eu|us"}`, `{name: zone, required: true}`,
		`{name: region, required: true, pattern: "eu"}`, `{name: ticket, required: true}`,
	).Replace(inputsService))
	v2, err := createWithInputs(db, "production", "2.0", map[string]string{"zone": "a", "ticket": "CHG-1"})
	if err != nil {
		t.Fatal(err)
	}
	reconcileAll(t, db)
	if got := runTo(t, db, v2.ID, "health"); got.State != shipgate.StateFailed {
		t.Fatalf("v2 %s", got.State)
	}
	rb := rollbackOf(t, db, v2.ID)
	if rb.RollbackRelease == 0 {
		t.Fatalf("rollback not fired: %+v", rb)
	}
	rr := find(db, rb.RollbackRelease)
	v1r := find(db, v1.ID)
	if rr.Inputs["region"] != "eu" || rr.Inputs["greeting"] != "hi" || len(rr.InputDeclarations) != 3 || len(v1r.InputDeclarations) != 3 || rr.InputDeclarations[0].Name != "greeting" {
		t.Fatalf("rollback release inputs %v %+v", rr.Inputs, rr.InputDeclarations)
	}
	// A manual rollback (same path, asked by a person) is not refused either.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CreateRollbackRelease(ctx, tx, sqlstore.NewRollback{Of: find(db, v2.ID), Target: v1r, TriggeredBy: shipgate.TriggeredByUser, Actor: "carol"})
		return err
	})
}

// testCreateReleaseInputBounds: a value over 64 KiB is refused by the
// store too and writes nothing; and a caller that matched the values
// against the patterns of the revision it names (CheckedRevision, as the
// API does outside any transaction) is not made to match them again inside
// the write transaction, where a costly pattern held every other writer,
// while names, secrecy and required inputs are still checked there.
func testCreateReleaseInputBounds(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, inputsService)
	before := verify(t, db)
	_, err := createWithInputs(db, "staging", "1.0", map[string]string{"greeting": strings.Repeat("a", shipgate.MaxInputValueBytes+1)})
	if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "may be at most 64 KiB") {
		t.Fatalf("a value over 64 KiB: %v", err)
	}
	if n := countAllReleases(t, db); n != 0 || verify(t, db) != before {
		t.Fatalf("the refusal left %d releases and %d events", n, verify(t, db)-before)
	}
	create := func(rev int, inputs map[string]string) (*shipgate.Release, error) {
		var r *shipgate.Release
		err := db.Update(ctx, func(tx *sqlstore.Tx) error {
			var err error
			r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "production", Version: "1.0", Artifact: testutil.Artifact("1.0"),
				Inputs: inputs, CreatedBy: "carol", CheckedRevision: rev})
			return err
		})
		return r, err
	}
	if _, err := create(1, map[string]string{"regoin": "eu"}); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `did you mean "region"?`) {
		t.Fatalf("a checked revision still has its names checked: %v", err)
	}
	if _, err := create(1, map[string]string{"greeting": "hi"}); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), `input "region" is required`) {
		t.Fatalf("a checked revision still has its required inputs checked: %v", err)
	}
	// "us" does not match production's "eu": the store trusts the caller
	// that says it matched, and only that caller.
	if _, err := create(0, map[string]string{"region": "us"}); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("without a checked revision the store matches patterns: %v", err)
	}
	r, err := create(1, map[string]string{"region": "us"})
	if err != nil {
		t.Fatalf("patterns matched again inside the transaction: %v", err)
	}
	if r.Inputs["greeting"] != "hello" || len(r.InputDeclarations) != 3 {
		t.Fatalf("defaults and declarations not frozen: %+v %+v", r.Inputs, r.InputDeclarations)
	}
}
