package httpapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// gcFixture has release 1 succeeded (a.tar), 2 failed (b.tar), 3 running
// (c.tar), and an orphan in the store.
func gcFixture(t *testing.T, engine string) (*fixture, map[string]string) {
	t.Helper()
	f := newFixtureOn(t, engine)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(strings.Replace(agentService, "ROLE", "web", 1))); err != nil {
		t.Fatal(err)
	}
	tok, _ := admin.CreateAgentToken(ctx, "hosts")
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.NewAgent(f.srv.URL, reg.Secret)
	dir := t.TempDir()
	sums := map[string]string{}
	for i, name := range []string{"a.tar", "b.tar", "c.tar"} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte("build "+name), 0o644)
		sums[name] = shipgate.SHA256Hex([]byte("build " + name))
		if _, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: name, Artifact: path}); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			break // c stays running
		}
		asg, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: name, Wait: time.Second})
		if err != nil || !ok {
			t.Fatalf("claim %s: %v %v", name, ok, err)
		}
		if err := agent.Finish(ctx, "", asg.Key, shipgate.JobOutcome{Succeeded: i == 0, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.h.Artifacts.Store.Put(strings.NewReader("orphan"), "")
	if err != nil {
		t.Fatal(err)
	}
	sums["orphan"] = res.SHA256
	return f, sums
}

func (f *fixture) stored(t *testing.T) map[string]bool {
	t.Helper()
	list, err := f.h.Artifacts.Store.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range list {
		out[e.SHA256] = true
	}
	return out
}

// gc keeps what a release not final or one that succeeded pins, removes
// what only a failed release pins and orphans, spares recent files, is
// admin-only, audited, and changes nothing on a dry run.
func TestArtifactGC(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			f, sums := gcFixture(t, engine)
			admin := f.client("admin")
			// Everything was stored just now: the default grace keeps it.
			res, err := admin.CollectArtifacts(ctx, client.ArtifactGCRequest{})
			if err != nil || len(res.Removed) != 0 || res.Kept != 4 {
				t.Fatalf("gc within the grace period: %+v %v", res, err)
			}
			before, _ := f.db.VerifyAudit(ctx)
			dry, err := admin.CollectArtifacts(ctx, client.ArtifactGCRequest{DryRun: true, Grace: "0s"})
			if err != nil || len(dry.Removed) != 2 || !dry.DryRun || dry.Kept != 2 {
				t.Fatalf("dry run: %+v %v", dry, err)
			}
			if got := f.stored(t); len(got) != 4 {
				t.Fatalf("a dry run removed files: %v", got)
			}
			for _, who := range []string{"viewer", "carol"} {
				if _, err := f.client(who).CollectArtifacts(ctx, client.ArtifactGCRequest{Grace: "0s"}); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
					t.Fatalf("%s ran gc: %v", who, err)
				}
			}
			if _, err := admin.CollectArtifacts(ctx, client.ArtifactGCRequest{Grace: "-1h"}); shipgate.ErrorCode(err) != shipgate.EINVALID {
				t.Fatalf("negative grace: %v", err)
			}
			if n, _ := f.db.VerifyAudit(ctx); n != before+2 { // the two refusals only
				t.Fatalf("audit grew by %d for a dry run, two refusals and a bad request", n-before)
			}
			res, err = admin.CollectArtifacts(ctx, client.ArtifactGCRequest{Grace: "0s"})
			if err != nil || len(res.Removed) != 2 || res.FreedBytes != int64(len("build b.tar")+len("orphan")) {
				t.Fatalf("gc: %+v %v", res, err)
			}
			got := f.stored(t)
			if !got[sums["a.tar"]] || got[sums["b.tar"]] || !got[sums["c.tar"]] || got[sums["orphan"]] {
				t.Fatalf("after gc the store holds %v (sums %v)", got, sums)
			}
			e := f.lastEvent(t)
			var details struct {
				Removed []struct {
					SHA256   string  `json:"sha256"`
					Releases []int64 `json:"releases"`
				} `json:"removed"`
			}
			json.Unmarshal(e.Details, &details)
			if e.Action != shipgate.ActionArtifactsCollected || e.Actor != "admin" || len(details.Removed) != 2 {
				t.Fatalf("gc event: %+v %s", e, e.Details)
			}
			// The list says why what is left stays.
			list, err := f.client("viewer").Artifacts(ctx)
			if err != nil || len(list) != 2 {
				t.Fatalf("list: %+v %v", list, err)
			}
			why := map[string]string{}
			for _, a := range list {
				why[a.SHA256] = a.Why
			}
			if !strings.Contains(why[sums["a.tar"]], "release 1 succeeded") || !strings.Contains(why[sums["c.tar"]], "release 3 is running") {
				t.Fatalf("list reasons: %v", why)
			}
			// The failed release's bytes are gone; a rerun imports them again
			// from its path if the file still holds them, and is refused
			// (with why) when it does not.
			path := f.releaseArtifact(t, 2)
			os.WriteFile(path, []byte("rebuilt b"), 0o644)
			if _, err := f.client("carol").Rerun(ctx, 2); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "cannot be rerun") {
				t.Fatalf("rerun without the bytes: %v", err)
			}
			os.WriteFile(path, []byte("build b.tar"), 0o644)
			if _, err := f.client("carol").Rerun(ctx, 2); err != nil {
				t.Fatalf("rerun with the file back: %v", err)
			}
			if !f.stored(t)[sums["b.tar"]] {
				t.Fatal("the rerun did not import the artifact again")
			}
		})
	}
}

func (f *fixture) releaseArtifact(t *testing.T, id int64) string {
	t.Helper()
	v, err := f.client("viewer").Release(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Artifact.Location
}
