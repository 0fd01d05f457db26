package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// TestStore is the conformance suite: every case runs on SQLite and on
// PostgreSQL, against real databases.
func TestStore(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, engine string)
	}{
		{"Migrations", testMigrations},
		{"MigrationChecksums", testMigrationChecksums},
		{"OpenExisting", testOpenExisting},
		{"Ping", testPing},
		{"ApplyService", testApplyService},
		{"UsersGroupsTokens", testUsersGroupsTokens},
		{"SelfChangeRefused", testSelfChangeRefused},
		{"MembershipFrozenAtCreation", testMembershipFrozenAtCreation},
		{"LegacyReleaseMembership", testLegacyReleaseMembership},
		{"DisableUser", testDisableUser},
		{"LastAdmin", testLastAdmin},
		{"RolesAndGroupsAudited", testRolesAndGroupsAudited},
		{"TokenLifecycle", testTokenLifecycle},
		{"CreateRelease", testCreateRelease},
		{"ReleaseImmutable", testReleaseImmutable},
		{"CreateReleaseInputs", testCreateReleaseInputs},
		{"CreateReleaseInputBounds", testCreateReleaseInputBounds},
		{"RollbackKeepsInputs", testRollbackKeepsInputs},
		{"Bundle", testBundle},
		{"Decide", testDecide},
		{"ChecklistTicks", testChecklistTicks},
		{"Freezes", testFreezes},
		{"FreezeHoldsPastManyLater", testFreezeHoldsPastManyLater},
		{"DecideStateFirst", testDecideStateFirst},
		{"DecideNamesApprovers", testDecideNamesApprovers},
		{"UnknownGroups", testUnknownGroups},
		{"RemoveGroupInUse", testRemoveGroupInUse},
		{"LastApproverGuard", testLastApproverGuard},
		{"Lifecycle", testLifecycle},
		{"ApprovalExpiry", testApprovalExpiry},
		{"LeaseExpiry", testLeaseExpiry},
		{"CancelAndRerun", testCancelAndRerun},
		{"OneReleaseAtATime", testOneReleaseAtATime},
		{"RerunNeedsFreshApprovals", testRerunNeedsFreshApprovals},
		{"ClaimPagesThroughQueue", testClaimPagesThroughQueue},
		{"ClaimWithWrongSecretKey", testClaimWithWrongSecretKey},
		{"ClaimIsIdempotent", testClaimIsIdempotent},
		{"ClaimRespectsTokenEnvs", testClaimRespectsTokenEnvs},
		{"AgentTokenScope", testAgentTokenScope},
		{"AgentNameTakeover", testAgentNameTakeover},
		{"LogsBounded", testLogsBounded},
		{"RollbackLastSuccessful", testRollbackLastSuccessful},
		{"RollbackAfterFailedRerun", testRollbackAfterFailedRerun},
		{"RollbackNowUnavailable", testRollbackNowUnavailable},
		{"RollbackReleaseRerun", testRollbackReleaseRerun},
		{"SharedKey", testSharedKey},
		{"RollbackNothingToRollBackTo", testRollbackNothingToRollBackTo},
		{"RollbackCheckTargetOnly", testRollbackCheckTargetOnly},
		{"RollbackDelayHoldNowCallOff", testRollbackDelayHoldNowCallOff},
		{"RollbackCalledOffByPerson", testRollbackCalledOffByPerson},
		{"RollbackVersionMode", testRollbackVersionMode},
		{"RerunAndRollback", testRerunAndRollback},
		{"RollbackApprovalRules", testRollbackApprovalRules},
		{"RollbackRespectsRequires", testRollbackRespectsRequires},
		{"StaleRollbackDoesNotOverwrite", testStaleRollbackDoesNotOverwrite},
		{"RolloutStaleSeq", testRolloutStaleSeq},
		{"RolloutBounded", testRolloutBounded},
		{"RolloutPromote", testRolloutPromote},
		{"RolloutStepNumbers", testRolloutStepNumbers},
		{"Logs", testLogs},
		{"AuditTamper", testAuditTamper},
		{"AuditEach", testAuditEach},
		{"AuditCheckpointRenamedApprover", testAuditCheckpointRenamedApprover},
		{"AuditCheckpointDeletedRows", testAuditCheckpointDeletedRows},
		{"AuditCheckpointSigning", testAuditCheckpointSigning},
		{"ConcurrentWriters", testConcurrentWriters},
		{"LeaderLease", testLeaderLease},
		{"LeaderLeaseOneHolder", testLeaderLeaseOneHolder},
		{"LeaderLeasePredecessor", testLeaderLeasePredecessor},
		{"UnprintableText", testUnprintableText},
		{"ArtifactRefs", testArtifactRefs},
		{"RollbackReleaseStrategy", testRollbackReleaseStrategy},
		{"RollbackWindows", testRollbackWindows},
		{"RollbackReasonAudited", testRollbackReasonAudited},
		{"RollbackArtifactUnavailable", testRollbackArtifactUnavailable},
		{"RollbackStrategyDoesNotFit", testRollbackStrategyDoesNotFit},
		{"RollbackOnlyWhatSucceededHere", testRollbackOnlyWhatSucceededHere},
		{"RollbackLookupsAbsent", testRollbackLookupsAbsent},
		{"RollbackArtifactCheckedCheaply", testRollbackArtifactCheckedCheaply},
		{"AttentionApproval", testAttentionApproval},
		{"AttentionPromote", testAttentionPromote},
		{"NotifyIncidents", testNotifyIncidents},
		{"RollbackNowNamesThePerson", testRollbackNowNamesThePerson},
		{"ApprovalShortfall", testApprovalShortfall},
		{"StatementsPreparedOnce", testStatementsPreparedOnce},
		{"FinishDecodesReleaseOnce", testFinishDecodesReleaseOnce},
		{"Policies", testPolicies},
		{"PolicyDecisions", testPolicyDecisions},
		{"PolicyDecisionTampered", testPolicyDecisionTampered},
		{"Evidence", testEvidence},
	}
	for _, engine := range testutil.Engines {
		t.Run(engine, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, engine)
				})
			}
		})
	}
}

var ctx = context.Background()

func newStore(t *testing.T, engine string) (*sqlstore.DB, *testutil.Clock) {
	db := testutil.NewStore(t, engine)
	clock := testutil.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	return db, clock
}

func verify(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	n, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	return n
}

func testMigrations(t *testing.T, engine string) {
	dsn := testutil.DSN(t, engine)
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	names, err := db.Migrations(ctx)
	if err != nil || len(names) == 0 || names[0] != "0001_init.sql" {
		t.Fatalf("migrations = %v, %v", names, err)
	}
	db.Close()
	// Reopening applies nothing twice.
	db, err = sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	again, _ := db.Migrations(ctx)
	if len(again) != len(names) {
		t.Fatalf("migrations after reopen = %v, want %v", again, names)
	}
	if db.Engine() != engine {
		t.Fatalf("engine %q, want %q", db.Engine(), engine)
	}
}

// testMigrationChecksums: every applied migration has the sha256 of its
// file recorded (filled at upgrade for stores migrated before checksums
// existed), and a store whose recorded migration differs from the file
// embedded now is refused at open, naming the migration.
func testMigrationChecksums(t *testing.T, engine string) {
	dsn := testutil.DSN(t, engine)
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, db, engine)
	db.Close()
	sums := func() map[string]string {
		t.Helper()
		rows, err := raw.Query(`SELECT name, sha256 FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var name, sum string
			if err := rows.Scan(&name, &sum); err != nil {
				t.Fatal(err)
			}
			if len(sum) != 64 {
				t.Fatalf("migration %s has checksum %q", name, sum)
			}
			out[name] = sum
		}
		return out
	}
	fresh := sums()
	if _, ok := fresh["0018_migration_checksums.sql"]; !ok || len(fresh) < 14 {
		t.Fatalf("checksums of %d migrations", len(fresh))
	}
	exec := func(q string) {
		t.Helper()
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	reopen := func() error {
		t.Helper()
		db, err := sqlstore.Open(ctx, dsn)
		if err == nil {
			db.Close()
		}
		return err
	}

	// A store migrated before checksums were recorded: the upgrade fills
	// them from the embedded files.
	exec(`DELETE FROM schema_migrations WHERE version = 18`) // later migrations stay applied
	exec(`ALTER TABLE schema_migrations DROP COLUMN sha256`)
	if err := reopen(); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if got := sums(); fmt.Sprint(got) != fmt.Sprint(fresh) {
		t.Fatalf("checksums after upgrade = %v, want %v", got, fresh)
	}

	// An applied migration whose file has changed since is refused.
	sum := fresh["0007_release_succeeded_at.sql"]
	exec(`UPDATE schema_migrations SET sha256 = 'ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12' WHERE version = 7`)
	err = reopen()
	want := "migration 0007_release_succeeded_at.sql was changed after it was applied (recorded sha256 ab12ab12ab12…, now " + sum[:12] + "…); migrations are never edited — add a new one"
	if err == nil || err.Error() != want {
		t.Fatalf("edited migration: %v\nwant %s", err, want)
	}
	// Unchanged, it opens again.
	exec(`UPDATE schema_migrations SET sha256 = '` + sum + `' WHERE version = 7`)
	if err := reopen(); err != nil {
		t.Fatalf("reopen unchanged: %v", err)
	}
}

func testApplyService(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	rev := testutil.MustApply(t, db, testutil.ServiceYAML)
	if rev.Revision != 1 {
		t.Fatalf("first revision = %d", rev.Revision)
	}
	// Same content, different formatting: no new revision, no event.
	before := verify(t, db)
	again := testutil.MustApply(t, db, testutil.ServiceYAML+"\n# a comment\n")
	if again.Revision != 1 || verify(t, db) != before {
		t.Fatalf("re-apply created revision %d", again.Revision)
	}
	changed := testutil.MustApply(t, db, strings.Replace(testutil.ServiceYAML, "echo verify", "echo verify twice", 1))
	if changed.Revision != 2 {
		t.Fatalf("changed file gave revision %d, want 2", changed.Revision)
	}
	db.View(ctx, func(tx *sqlstore.Tx) error {
		revs, err := tx.ListServiceRevisions(ctx, "web")
		if err != nil || len(revs) != 2 || revs[0].Revision != 2 || revs[1].Revision != 1 {
			t.Fatalf("history = %+v, %v", revs, err)
		}
		old, err := tx.FindServiceRevision(ctx, "web", 1)
		if err != nil || !strings.Contains(old.Source, "echo verify\n") {
			t.Fatalf("revision 1 source lost: %v", err)
		}
		svc, err := tx.FindService(ctx, "web")
		if err != nil || svc.Revision != 2 {
			t.Fatalf("current = %+v, %v", svc, err)
		}
		if _, err := tx.FindService(ctx, "nope"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), "apply its service file first") {
			t.Fatalf("missing service: %v", err)
		}
		// A typo of a service that exists is named.
		if _, err := tx.FindService(ctx, "wbe"); shipgate.ErrorCode(err) != shipgate.ENOTFOUND || !strings.Contains(err.Error(), `service "wbe" does not exist; did you mean "web"?`) {
			t.Fatalf("mistyped service: %v", err)
		}
		return nil
	})
}

func testUsersGroupsTokens(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover, shipgate.RoleDeployer}, "release-managers")
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		return tx.CreateUser(ctx, "test", &shipgate.User{Name: "alice"})
	})
	if shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("duplicate user: %v", err)
	}
	err = db.Update(ctx, func(tx *sqlstore.Tx) error {
		return tx.CreateUser(ctx, "test", &shipgate.User{Name: "bob", Roles: []shipgate.Role{"superuser"}})
	})
	if shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("bad role: %v", err)
	}
	shout := testutil.MustUser(t, db, "shout", []shipgate.Role{"Admin"})
	if shout.Roles[0] != shipgate.RoleAdmin || !shout.Can(shipgate.PermAdmin) {
		t.Fatalf("role given as Admin stored as %v", shout.Roles)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "test", "sre", "alice") })
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.AddGroupMember(ctx, "test", "sre", "alice") }) // no-op
	secret := shipgate.NewTokenSecret()
	var tok *shipgate.Token
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		var err error
		tok, err = tx.CreateToken(ctx, "test", "alice", "laptop", secret)
		return err
	})
	u, id, err := db.Authenticate(ctx, secret)
	if err != nil || u.Name != "alice" || id != tok.ID {
		t.Fatalf("authenticate: %v %v", u, err)
	}
	if strings.Join(u.Groups, ",") != "release-managers,sre" || !u.Can(shipgate.PermApprove) || u.Can(shipgate.PermAdmin) {
		t.Fatalf("user = %+v", u)
	}
	// The secret is not stored, only its hash.
	db.View(ctx, func(tx *sqlstore.Tx) error {
		ts, _ := tx.ListTokens(ctx, "alice")
		if len(ts) != 1 || strings.Contains(fmt.Sprint(ts), secret) {
			t.Fatalf("tokens = %+v", ts)
		}
		return nil
	})
	if _, _, err := db.Authenticate(ctx, secret+"x"); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("wrong token: %v", err)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error { return tx.RevokeToken(ctx, "test", tok.ID) })
	if _, _, err := db.Authenticate(ctx, secret); shipgate.ErrorCode(err) != shipgate.EUNAUTHORIZED {
		t.Fatalf("revoked token: %v", err)
	}
	// user.created ×2, group.member_added, token.created, token.revoked
	if n := verify(t, db); n != 5 {
		t.Fatalf("%d audit events, want 5", n)
	}
}

func newRelease(db *sqlstore.DB, env, version, by string) (*shipgate.Release, error) {
	var r *shipgate.Release
	err := db.Update(ctx, func(tx *sqlstore.Tx) error {
		var err error
		r, err = reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{
			Service: "web", Environment: env, Version: version, Artifact: testutil.Artifact(version),
			Inputs: map[string]string{"region": "eu"}, CreatedBy: by,
		})
		if err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return find(db, r.ID), nil
}

func find(db *sqlstore.DB, id int64) *shipgate.Release {
	var r *shipgate.Release
	db.View(ctx, func(tx *sqlstore.Tx) error {
		var err error
		r, err = tx.FindRelease(ctx, id)
		if err != nil {
			panic(err)
		}
		return nil
	})
	return r
}

func testCreateRelease(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	if _, err := newRelease(db, "production", "1.0", "carol"); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "succeeded in staging") {
		t.Fatalf("production before staging: %v", err)
	}
	if _, err := newRelease(db, "qa", "1.0", "carol"); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("unknown environment: %v", err)
	}
	r, err := newRelease(db, "staging", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	// required: 0 goes straight through queued to running.
	if r.State != shipgate.StateRunning || r.Run != 1 {
		t.Fatalf("staging release is %s run %d", r.State, r.Run)
	}
	if !strings.HasPrefix(r.Digest, "sha256:") || r.Digest != r.ReleaseContent.Digest() {
		t.Fatalf("digest %q does not match content", r.Digest)
	}
	if r.Inputs["region"] != "eu" || len(r.Pipeline.Jobs) != 2 || r.Policy.Name != "staging" {
		t.Fatalf("frozen content wrong: %+v", r.ReleaseContent)
	}
	// Applying a new revision does not change what the release runs.
	testutil.MustApply(t, db, strings.Replace(testutil.ServiceYAML, "echo deploy", "echo changed", 1))
	if again := find(db, r.ID); again.Digest != r.Digest || again.Pipeline.Jobs[0].Steps[0].Run != "echo deploy" {
		t.Fatal("release content changed after the service was re-applied")
	}
}

func testReleaseImmutable(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r, err := newRelease(db, "staging", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, db, engine)
	q := `UPDATE releases SET content = '{}' WHERE id = 1`
	if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("direct content update: %v", err)
	}
	if again := find(db, r.ID); again.Digest != r.Digest {
		t.Fatal("content changed")
	}
}

func testDecide(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	carol := testutil.MustUser(t, db, "carol", []shipgate.Role{shipgate.RoleDeployer, shipgate.RoleApprover}, "release-managers")
	dave := testutil.MustUser(t, db, "dave", []shipgate.Role{shipgate.RoleApprover})
	viewer := testutil.MustUser(t, db, "vic", []shipgate.Role{shipgate.RoleViewer}, "release-managers")
	// alice must be a release manager when the release is created: the
	// membership that counts is frozen then (see MembershipFrozenAtCreation).
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	stg, _ := newRelease(db, "staging", "1.0", "carol")
	finishRun(t, db, stg.ID, true)
	r, err := newRelease(db, "production", "1.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	decide := func(u *shipgate.User, decision, digest string) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			_, _, err := reconcile.Decide(ctx, tx, u, r.ID, decision, digest, "")
			return err
		})
	}
	for _, c := range []struct {
		who  *shipgate.User
		want string
		msg  string
	}{
		{carol, shipgate.EFORBIDDEN, "cannot approve it"},
		{dave, shipgate.EFORBIDDEN, "only members of"},
		{viewer, shipgate.EFORBIDDEN, "needs the approver role"},
	} {
		err := decide(c.who, shipgate.DecisionApprove, r.Digest)
		if shipgate.ErrorCode(err) != c.want || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s approving: %v", c.who.Name, err)
		}
	}
	if err := decide(alice, shipgate.DecisionApprove, "sha256:0000"); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("wrong digest: %v", err)
	}
	if err := decide(alice, shipgate.DecisionApprove, r.Digest); err != nil {
		t.Fatal(err)
	}
	if err := decide(alice, shipgate.DecisionApprove, r.Digest); err != nil {
		t.Fatal(err) // approving again renews; it still counts once
	}
	reconcileAll(t, db)
	if got := find(db, r.ID); got.State != shipgate.StatePendingApproval || !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("after one approver: %s %q", got.State, got.Reason)
	}
	// The creator may reject their own release; one reject ends it.
	if err := decide(carol, shipgate.DecisionReject, r.Digest); err != nil {
		t.Fatal(err)
	}
	if got := find(db, r.ID); got.State != shipgate.StateRejected || got.FinishedAt == nil {
		t.Fatalf("after reject: %s", got.State)
	}
	if err := decide(alice, shipgate.DecisionApprove, r.Digest); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("approve after reject: %v", err)
	}
	verify(t, db)
}

func reconcileAll(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	rec := reconcile.NewReconciler(db, nil)
	if _, err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
}

// finishRun drives every job of the release's run through the dispatcher
// until the release is final.
func finishRun(t *testing.T, db *sqlstore.DB, id int64, ok bool) {
	t.Helper()
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	runner := shipgate.RunnerInfo{Name: "test-runner"}
	for i := 0; i < 20 && !find(db, id).State.Final(); i++ {
		a, got, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: runner})
		if err != nil {
			t.Fatal(err)
		}
		if !got {
			t.Fatalf("release %d is %s but no job is claimable", id, find(db, id).State)
		}
		if err := d.Finish(ctx, runner.Name, a.Key, shipgate.JobOutcome{Succeeded: ok, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
}

func testLifecycle(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	stg, _ := newRelease(db, "staging", "2.0", "carol")
	finishRun(t, db, stg.ID, true)
	if got := find(db, stg.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("staging: %s %s", got.State, got.Reason)
	}
	r, err := newRelease(db, "production", "2.0", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*shipgate.User{alice, bob} {
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			if _, _, err := reconcile.Decide(ctx, tx, u, r.ID, shipgate.DecisionApprove, r.Digest, "ok"); err != nil {
				return err
			}
			_, _, err := reconcile.Release(ctx, tx, r.ID)
			return err
		})
	}
	got := find(db, r.ID)
	if got.State != shipgate.StateRunning || got.Reason != "" {
		t.Fatalf("after two approvals: %s %q", got.State, got.Reason)
	}
	// Jobs run in needs order: only deploy is claimable first.
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	runner := shipgate.RunnerInfo{Name: "r1"}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: runner})
	if err != nil || !ok || a.Key.Job != "deploy" || a.Inputs["region"] != "eu" {
		t.Fatalf("first claim: %+v %v %v", a, ok, err)
	}
	if _, ok, _ := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r2"}}); ok {
		t.Fatal("verify was claimable before deploy finished")
	}
	// A runner that does not hold the attempt cannot report it.
	if err := d.Finish(ctx, "r2", a.Key, shipgate.JobOutcome{Succeeded: true}); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("finish by another runner: %v", err)
	}
	if err := d.Finish(ctx, "r1", a.Key, shipgate.JobOutcome{Succeeded: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(ctx, "r1", a.Key, shipgate.JobOutcome{Succeeded: true}); err != nil {
		t.Fatalf("repeated finish must be harmless: %v", err)
	}
	finishRun(t, db, r.ID, true)
	if got := find(db, r.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("production: %s %s", got.State, got.Reason)
	}
	var actions []string
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: r.ID})
		for _, e := range events {
			actions = append(actions, e.Actor+":"+e.Action)
		}
		return nil
	})
	want := "carol:release.created alice:release.approved bob:release.approved system:release.queued system:release.started " +
		"system:job.started system:job.finished system:job.started system:job.finished system:release.succeeded"
	if strings.Join(actions, " ") != want {
		t.Fatalf("timeline:\n got %s\nwant %s", strings.Join(actions, " "), want)
	}
	verify(t, db)
}

func testApprovalExpiry(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	stg, _ := newRelease(db, "staging", "3.0", "carol")
	finishRun(t, db, stg.ID, true)
	r, _ := newRelease(db, "production", "3.0", "carol")
	approve := func(u *shipgate.User) {
		testutil.Update(t, db, func(tx *sqlstore.Tx) error {
			_, _, err := reconcile.Decide(ctx, tx, u, r.ID, shipgate.DecisionApprove, r.Digest, "")
			return err
		})
	}
	approve(alice)
	reconcileAll(t, db)
	if got := find(db, r.ID); got.WaitUntil == nil || !got.WaitUntil.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("wait until = %v, want the approval's expiry", got.WaitUntil)
	}
	clock.Add(time.Hour + time.Second)
	reconcileAll(t, db)
	approve(bob)
	reconcileAll(t, db)
	got := find(db, r.ID)
	if got.State != shipgate.StatePendingApproval || !strings.Contains(got.Reason, "1 of 2") {
		t.Fatalf("expired approval still counted: %s %q", got.State, got.Reason)
	}
	var expired int
	db.View(ctx, func(tx *sqlstore.Tx) error {
		events, _ := tx.ListAudit(ctx, shipgate.AuditFilter{ReleaseID: r.ID})
		for _, e := range events {
			if e.Action == shipgate.ActionApprovalExpired && strings.Contains(string(e.Details), `"approver":"alice"`) {
				expired++
			}
		}
		return nil
	})
	if expired != 1 {
		t.Fatalf("%d approval.expired events for alice, want 1", expired)
	}
	approve(alice) // a fresh approval counts again
	reconcileAll(t, db)
	if got := find(db, r.ID); got.State != shipgate.StateRunning {
		t.Fatalf("after re-approval: %s %q", got.State, got.Reason)
	}
}

func testLeaseExpiry(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML) // deploy has retries: 1
	r, _ := newRelease(db, "staging", "4.0", "carol")
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: 30 * time.Second, Work: &reconcile.Signal{}}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "agent-x"}})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// Heartbeats extend the lease.
	clock.Add(20 * time.Second)
	if hb, err := d.Heartbeat(ctx, "agent-x", a.Key); err != nil || hb.Cancel || !hb.LeaseUntil.Equal(clock.Now().Add(30*time.Second)) {
		t.Fatalf("heartbeat: %+v %v", hb, err)
	}
	clock.Add(20 * time.Second)
	reconcileAll(t, db)
	if j := job(t, db, r.ID, "deploy"); j.State != shipgate.JobRunning {
		t.Fatalf("job %s before its extended lease ran out", j.State)
	}
	clock.Add(11 * time.Second)
	reconcileAll(t, db)
	if j := job(t, db, r.ID, "deploy"); j.State != shipgate.JobQueued || !strings.Contains(j.Reason, "lease expired on agent agent-x") {
		t.Fatalf("after lease expiry: %s %q", j.State, j.Reason)
	}
	// The old holder is told to stop and cannot report.
	if hb, _ := d.Heartbeat(ctx, "agent-x", a.Key); !hb.Cancel {
		t.Fatal("stale holder not told to stop")
	}
	a2, ok, _ := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "agent-y"}})
	if !ok || a2.Key.Attempt != 2 {
		t.Fatalf("retry claim: %+v", a2)
	}
	if err := d.Finish(ctx, "agent-x", a.Key, shipgate.JobOutcome{Succeeded: true}); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("stale finish accepted: %v", err)
	}
	clock.Add(time.Minute)
	reconcileAll(t, db)
	got := find(db, r.ID)
	if got.State != shipgate.StateFailed || !strings.Contains(got.Reason, "lease expired on agent agent-y") {
		t.Fatalf("no retries left: %s %q", got.State, got.Reason)
	}
	if j := job(t, db, r.ID, "verify"); j.State != shipgate.JobSkipped || j.Cause != shipgate.JobCauseSkipped {
		t.Fatalf("verify is %s (%s), want skipped", j.State, j.Cause)
	}
	// Lost is a stored fact, and it is what refuses the late outcome of
	// the lost attempt (not the wording of the reason).
	if j := job(t, db, r.ID, "deploy"); j.State != shipgate.JobFailed || j.Cause != shipgate.JobCauseLost {
		t.Fatalf("deploy is %s (%q), want failed as lost", j.State, j.Cause)
	}
	if err := d.Finish(ctx, "agent-y", a2.Key, shipgate.JobOutcome{Succeeded: true}); shipgate.ErrorCode(err) != shipgate.ECONFLICT || !strings.Contains(err.Error(), "already failed as lost") {
		t.Fatalf("late finish of the lost attempt: %v", err)
	}
	verify(t, db)
}

func job(t *testing.T, db *sqlstore.DB, id int64, name string) shipgate.JobRun {
	t.Helper()
	r := find(db, id)
	var out shipgate.JobRun
	db.View(ctx, func(tx *sqlstore.Tx) error {
		jobs, err := tx.ListJobs(ctx, id, r.Run)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Name == name {
				out = j
			}
		}
		return nil
	})
	return out
}

func testCancelAndRerun(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r, _ := newRelease(db, "staging", "5.0", "carol")
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	a, _, _ := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "carol", r.ID, "wrong build")
		return err
	})
	if hb, _ := d.Heartbeat(ctx, "r", a.Key); !hb.Cancel {
		t.Fatal("runner not told to stop a cancelled job")
	}
	exit := -1
	if err := d.Finish(ctx, "r", a.Key, shipgate.JobOutcome{Cancelled: true, ExitCode: &exit, Reason: "stopped"}); err != nil {
		t.Fatal(err)
	}
	got := find(db, r.ID)
	if got.State != shipgate.StateCancelled || !strings.Contains(got.Reason, "cancelled by carol: wrong build") {
		t.Fatalf("cancelled: %s %q", got.State, got.Reason)
	}
	if j := job(t, db, r.ID, "deploy"); j.State != shipgate.JobCancelled {
		t.Fatalf("deploy %s", j.State)
	}
	err := db.Update(ctx, func(tx *sqlstore.Tx) error { _, err := reconcile.CancelRelease(ctx, tx, "carol", r.ID, ""); return err })
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("cancel twice: %v", err)
	}
	err = db.Update(ctx, func(tx *sqlstore.Tx) error { _, err := reconcile.RerunRelease(ctx, tx, "carol", r.ID); return err })
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("rerun of a cancelled release: %v", err)
	}

	// A failed release reruns with the same digest and a new run number.
	f, _ := newRelease(db, "staging", "5.1", "carol")
	finishRun(t, db, f.ID, false)
	if got := find(db, f.ID); got.State != shipgate.StateFailed {
		t.Fatalf("release %s", got.State)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RerunRelease(ctx, tx, "dave", f.ID); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, f.ID)
		return err
	})
	got = find(db, f.ID)
	if got.State != shipgate.StateRunning || got.Run != 2 || got.Digest != f.Digest {
		t.Fatalf("rerun: %s run %d", got.State, got.Run)
	}
	finishRun(t, db, f.ID, true)
	if got := find(db, f.ID); got.State != shipgate.StateSucceeded {
		t.Fatalf("rerun ended %s", got.State)
	}
	verify(t, db)
}

func testLogs(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r, _ := newRelease(db, "staging", "6.0", "carol")
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	a, _, _ := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	chunk := func(seq int64, data string) shipgate.LogChunk {
		return shipgate.LogChunk{Seq: seq, Stream: "stdout", Data: data, At: time.Now()}
	}
	if err := d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(1, "one\n"), chunk(2, "two\n")}); err != nil {
		t.Fatal(err)
	}
	// A resend after a lost response does not duplicate.
	if err := d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(2, "two\n"), chunk(3, "ünïcode ✓\n")}); err != nil {
		t.Fatal(err)
	}
	if err := d.AppendLogs(ctx, "other", a.Key, []shipgate.LogChunk{chunk(4, "x")}); shipgate.ErrorCode(err) != shipgate.ECONFLICT {
		t.Fatalf("logs from a runner not holding the job: %v", err)
	}
	big := strings.Repeat("x", reconcile.MaxLogChunk+1)
	if err := d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{chunk(5, big)}); shipgate.ErrorCode(err) != shipgate.ETOOLARGE {
		t.Fatalf("oversized chunk: %v", err)
	}
	db.View(ctx, func(tx *sqlstore.Tx) error {
		all, err := tx.ListLogs(ctx, r.ID, 1, "deploy", 0, 0)
		if err != nil || len(all) != 3 || all[2].Data != "ünïcode ✓\n" {
			t.Fatalf("logs = %+v %v", all, err)
		}
		rest, _ := tx.ListLogs(ctx, r.ID, 1, "", all[0].Cursor, 0)
		if len(rest) != 2 || rest[0].Seq != 2 {
			t.Fatalf("after cursor: %+v", rest)
		}
		return nil
	})
}

// rawDB opens the store's database directly, as an intruder with database
// access would.
func rawDB(t *testing.T, db *sqlstore.DB, engine string) *sql.DB {
	t.Helper()
	raw, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[engine], sqlstore.DSNOf(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func testAuditTamper(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	for i := 0; i < 5; i++ {
		newRelease(db, "staging", fmt.Sprintf("7.%d", i), "carol")
	}
	n := verify(t, db)
	if n < 10 {
		t.Fatalf("only %d events", n)
	}
	raw := rawDB(t, db, engine)
	// The application cannot rewrite history...
	if _, err := raw.Exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of an audit event was not refused: %v", err)
	}
	// ...but someone with full database access can drop the guard. The chain
	// still gives them away.
	dropGuards(t, raw, engine)
	var actor string
	if err := raw.QueryRow(`SELECT actor FROM audit_events WHERE seq = 3`).Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "seq 3:") {
		t.Fatalf("edited row not named: %v", err)
	}
	if _, err := raw.Exec(`UPDATE audit_events SET actor = '` + actor + `' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	verify(t, db) // restored
	if _, err := raw.Exec(`DELETE FROM audit_events WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "seq 5:") {
		t.Fatalf("deleted row not named: %v", err)
	}
	// Cutting events off the end is caught by the recorded head.
	if _, err := raw.Exec(`DELETE FROM audit_events WHERE seq >= 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "seq 5:") || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("truncated tail not caught: %v", err)
	}
}

func dropGuards(t *testing.T, raw *sql.DB, engine string) {
	t.Helper()
	stmts := map[string][]string{
		"sqlite":   {`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`},
		"postgres": {`DROP TRIGGER audit_events_append_only ON audit_events`},
	}[engine]
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func testConcurrentWriters(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	db.Now = time.Now
	testutil.MustApply(t, db, testutil.ServiceYAML)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if _, err := newRelease(db, "staging", fmt.Sprintf("8.%d.%d", w, i), "carol"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// service.applied; the first release: created, queued, started; the
	// other 39 wait behind it: created, queued.
	if n := verify(t, db); n != 1+3+39*2 {
		t.Fatalf("%d events, want %d", n, 1+3+39*2)
	}
}

func testOneReleaseAtATime(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	first, _ := newRelease(db, "staging", "9.0", "carol")
	second, _ := newRelease(db, "staging", "9.1", "carol")
	third, _ := newRelease(db, "staging", "9.2", "carol")
	if first.State != shipgate.StateRunning || second.State != shipgate.StateQueued || third.State != shipgate.StateQueued {
		t.Fatalf("states %s %s %s", first.State, second.State, third.State)
	}
	if want := fmt.Sprintf("waiting for release %d (running) to finish in staging", first.ID); second.Reason != want {
		t.Fatalf("second waits with %q, want %q", second.Reason, want)
	}
	if want := fmt.Sprintf("waiting for release %d (running) to finish in staging", first.ID); third.Reason != want {
		t.Fatalf("third waits with %q, want %q", third.Reason, want)
	}
	finishRun(t, db, first.ID, false)
	reconcileAll(t, db)
	if got := find(db, second.ID); got.State != shipgate.StateRunning {
		t.Fatalf("second did not start after the first ended: %s %q", got.State, got.Reason)
	}
	// A rerun queues behind whatever runs now.
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		if _, err := reconcile.RerunRelease(ctx, tx, "carol", first.ID); err != nil {
			return err
		}
		_, _, err := reconcile.Release(ctx, tx, first.ID)
		return err
	})
	if got := find(db, first.ID); got.State != shipgate.StateQueued || !strings.Contains(got.Reason, fmt.Sprintf("release %d (running)", second.ID)) {
		t.Fatalf("rerun did not wait: %s %q", got.State, got.Reason)
	}
	if got := find(db, third.ID); got.State != shipgate.StateQueued || !strings.Contains(got.Reason, fmt.Sprintf("release %d", second.ID)) {
		t.Fatalf("third: %s %q", got.State, got.Reason)
	}
}

func testRerunNeedsFreshApprovals(t *testing.T, engine string) {
	db, clock := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML) // production: 2 approvals, expire after 1h
	alice := testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	bob := testutil.MustUser(t, db, "bob", []shipgate.Role{shipgate.RoleApprover}, "release-managers")
	ship := func(version string, ok bool) *shipgate.Release {
		stg, _ := newRelease(db, "staging", version, "carol")
		finishRun(t, db, stg.ID, true)
		r, err := newRelease(db, "production", version, "carol")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []*shipgate.User{alice, bob} {
			testutil.Update(t, db, func(tx *sqlstore.Tx) error {
				if _, _, err := reconcile.Decide(ctx, tx, u, r.ID, shipgate.DecisionApprove, r.Digest, ""); err != nil {
					return err
				}
				_, _, err := reconcile.Release(ctx, tx, r.ID)
				return err
			})
		}
		finishRun(t, db, r.ID, ok)
		return find(db, r.ID)
	}
	rerun := func(id int64) error {
		return db.Update(ctx, func(tx *sqlstore.Tx) error {
			if _, err := reconcile.RerunRelease(ctx, tx, "carol", id); err != nil {
				return err
			}
			_, _, err := reconcile.Release(ctx, tx, id)
			return err
		})
	}
	old := ship("1.0", false)
	clock.Add(2 * time.Hour)
	if err := rerun(old.ID); err != nil {
		t.Fatal(err)
	}
	got := find(db, old.ID)
	if got.State != shipgate.StatePendingApproval || !strings.Contains(got.Reason, "approvals expired before the release started") {
		t.Fatalf("rerun with stale approvals: %s %q", got.State, got.Reason)
	}
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		_, err := reconcile.CancelRelease(ctx, tx, "carol", old.ID, "")
		return err
	})

	// Once a newer release has succeeded, an older failed one cannot be rerun.
	failed := ship("2.0", false)
	ship("3.0", true)
	if err := rerun(failed.ID); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "has succeeded in production since") {
		t.Fatalf("rerun over a newer success: %v", err)
	}
	verify(t, db)
}

func testClaimPagesThroughQueue(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	var b strings.Builder
	b.WriteString("apiVersion: shipgate/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  environments: [{name: staging}]\n  pipeline:\n    jobs:\n")
	for i := 0; i < 250; i++ {
		fmt.Fprintf(&b, "      - {name: elsewhere-%d, runs_on: {role: db}, steps: [{run: 'true'}]}\n", i)
	}
	b.WriteString("      - {name: here, steps: [{run: 'true'}]}\n")
	testutil.MustApply(t, db, b.String())
	newRelease(db, "staging", "1", "carol")
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	a, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "web-1", Labels: map[string]string{"role": "web"}}})
	if err != nil || !ok || a.Key.Job != "here" {
		t.Fatalf("claim behind 250 jobs for other runners: %+v %v %v", a, ok, err)
	}
}

func testClaimWithWrongSecretKey(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	sealer, _ := shipgate.NewSecretBox(make([]byte, shipgate.SecretKeySize))
	other := make([]byte, shipgate.SecretKeySize)
	other[0] = 1
	opener, _ := shipgate.NewSecretBox(other)
	var id int64
	testutil.Update(t, db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "1", Artifact: testutil.Artifact("1"),
			Secrets: map[string]sqlstore.SealedSecret{"token": {Sealed: sealer.Seal("token", "v"), Fingerprint: sealer.Fingerprint("token", "v")}}, CreatedBy: "carol"})
		if err != nil {
			return err
		}
		id = r.ID
		_, _, err = reconcile.Release(ctx, tx, id)
		return err
	})
	d := &reconcile.Dispatcher{DB: db, Secrets: opener, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	if _, ok, err := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}}); ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	got := find(db, id)
	if got.State != shipgate.StateFailed || !strings.Contains(got.Reason, "cannot be decrypted") || !strings.Contains(got.Reason, "SHIPGATE_SECRET_KEY") {
		t.Fatalf("release %s %q", got.State, got.Reason)
	}
	verify(t, db)
}

func testClaimIsIdempotent(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	newRelease(db, "staging", "1", "carol")
	newRelease(db, "staging", "2", "carol") // queued behind: nothing else to hand out
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}}
	req := shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "a1"}, ClaimID: "c-1"}
	first, ok, err := d.Claim(ctx, req)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	again, ok, err := d.Claim(ctx, req)
	if err != nil || !ok || again.Key != first.Key {
		t.Fatalf("repeated claim: %+v %v %v, want %+v", again, ok, err, first.Key)
	}
	// Another runner repeating the id gets nothing of a1's.
	if a, ok, _ := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "a2"}, ClaimID: "c-1"}); ok {
		t.Fatalf("a2 got %+v", a.Key)
	}
	held, _ := d.Held(ctx, "a1")
	if len(held) != 1 || held[0].Key != first.Key {
		t.Fatalf("held = %+v", held)
	}
}

func testLogsBounded(t *testing.T, engine string) {
	db, _ := newStore(t, engine)
	testutil.MustApply(t, db, testutil.ServiceYAML)
	r, _ := newRelease(db, "staging", "1", "carol")
	d := &reconcile.Dispatcher{DB: db, LeaseTTL: time.Minute, Work: &reconcile.Signal{}, MaxJobLogBytes: 1000}
	a, _, _ := d.Claim(ctx, shipgate.ClaimRequest{Runner: shipgate.RunnerInfo{Name: "r"}})
	for i := 1; i <= 30; i++ {
		line := fmt.Sprintf("line %02d ü %s\n", i, strings.Repeat("x", 80))
		if err := d.AppendLogs(ctx, "r", a.Key, []shipgate.LogChunk{{Seq: int64(i), Stream: "stdout", Data: line, At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	var text string
	db.View(ctx, func(tx *sqlstore.Tx) error {
		chunks, _ := tx.ListLogs(ctx, r.ID, 1, "deploy", 0, 0)
		for _, c := range chunks {
			text += c.Data
		}
		return nil
	})
	if len(text) > 1000 || !strings.HasSuffix(text, strings.Repeat("x", 80)+"\n") || !strings.Contains(text, "line 30") || strings.Contains(text, "line 01") {
		t.Fatalf("bounded log (%d bytes):\n%s", len(text), text)
	}
	if j := job(t, db, r.ID, "deploy"); j.LogTruncated == 0 || j.LogTruncated+int64(len(text)) != 30*int64(len(fmt.Sprintf("line %02d ü %s\n", 1, strings.Repeat("x", 80)))) {
		t.Fatalf("truncated %d + kept %d does not add up", j.LogTruncated, len(text))
	}
}

func mustParse(t *testing.T, src string) *shipgate.ServiceSpec {
	t.Helper()
	spec, err := config.ParseService("svc.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
