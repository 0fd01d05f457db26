package httpapi_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// pinnedFixture is a server with a release of a path artifact whose only
// job an agent has claimed.
func pinnedFixture(t *testing.T, engine string) (f *fixture, art string, agent *client.Agent, key shipgate.AttemptKey) {
	t.Helper()
	f = newFixtureOn(t, engine)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(strings.Replace(agentService, "ROLE", "web", 1))); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateAgentToken(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	art = filepath.Join(t.TempDir(), "app.tar")
	os.WriteFile(art, []byte("the original build"), 0o644)
	if _, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: art}); err != nil {
		t.Fatal(err)
	}
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	agent = client.NewAgent(f.srv.URL, reg.Secret)
	asg, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	return f, art, agent, asg.Key
}

func download(t *testing.T, a *client.Agent, key shipgate.AttemptKey) (string, error) {
	t.Helper()
	body, err := a.Artifact(ctx, "", key)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	return string(b), err
}

// Finding 1: replacing a release's artifact file with a symlink to the
// server's secret key after creation must not hand the key to an agent.
// The agent gets the bytes pinned at creation; and when the file is gone
// altogether (a rollback years later), still those bytes.
func TestArtifactSwappedAfterCreation(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			_, art, agent, key := pinnedFixture(t, engine)
			secret := filepath.Join(t.TempDir(), "secret.key")
			os.WriteFile(secret, []byte("THE SERVER'S SECRET KEY"), 0o600)
			if err := os.Remove(art); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(secret, art); err != nil {
				t.Fatal(err)
			}
			got, err := download(t, agent, key)
			if err != nil || got != "the original build" {
				t.Fatalf("after the swap the agent got %q (%v), want the bytes pinned at creation", got, err)
			}
			os.Remove(art)
			if got, err := download(t, agent, key); err != nil || got != "the original build" {
				t.Fatalf("with the file gone the agent got %q (%v)", got, err)
			}
		})
	}
}

// A symlink that flips between an artifact and a file outside what the
// server may read, while releases are created, never gets the outside file
// pinned: the check and the read are one open.
func TestArtifactPathSwapRace(t *testing.T) {
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "svc.yaml", []byte(strings.Replace(agentService, "ROLE", "web", 1))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	os.WriteFile(good, []byte("good"), 0o644)
	denied := filepath.Join(os.TempDir(), "shipgate-denied", "race-secret.key")
	os.MkdirAll(filepath.Dir(denied), 0o755)
	os.WriteFile(denied, []byte("secret"), 0o600)
	link := filepath.Join(dir, "app.tar")
	os.Symlink(good, link)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := good
			if i%2 == 1 {
				target = denied
			}
			tmp := link + ".new"
			os.Remove(tmp)
			os.Symlink(target, tmp)
			os.Rename(tmp, link)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	secretSHA := shipgate.SHA256Hex([]byte("secret"))
	c := f.client("carol")
	for i := 0; i < 300; i++ {
		v, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: link})
		if err == nil && v.Artifact.SHA256 == secretSHA {
			t.Fatalf("creation %d pinned a file from a denied directory", i)
		}
		if err != nil && shipgate.ErrorCode(err) != shipgate.EFORBIDDEN && shipgate.ErrorCode(err) != shipgate.EINVALID {
			t.Fatalf("creation %d: %v", i, err)
		}
	}
}
