package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/egress"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
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

// deniedFile is a file of its own in the directory the fixture's server
// never takes artifacts from.
func deniedFile(t *testing.T, content string) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "shipgate-denied")
	os.MkdirAll(dir, 0o755)
	f, err := os.CreateTemp(dir, "secret-*.key")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(content)
	f.Close()
	t.Cleanup(func() { os.Remove(f.Name()) })
	return f.Name()
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
	denied := deniedFile(t, "secret")
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

// A stored artifact whose bytes were changed on the server is refused with
// a digest error: never delivered, and not re-imported over.
func TestDamagedStoredArtifactIsNotServed(t *testing.T) {
	f, _, agent, key := pinnedFixture(t, "sqlite")
	sum := shipgate.SHA256Hex([]byte("the original build"))
	blob := filepath.Join(f.h.Artifacts.Store.Dir(), "sha256", sum)
	os.Chmod(blob, 0o600)
	if err := os.WriteFile(blob, []byte("THE SERVER'S SECRET KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := download(t, agent, key)
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "no longer has that digest") || got != "" {
		t.Fatalf("damaged artifact: got %q, %v", got, err)
	}
}

// A release made before the store existed records a path and no stored
// bytes: the server imports it on first use, through the same checks as a
// creation, and only with the pinned digest.
func TestReleaseBeforeTheStoreIsImported(t *testing.T) {
	f := newFixture(t)
	admin := f.client("admin")
	if _, err := admin.Apply(ctx, "svc.yaml", []byte(strings.Replace(agentService, "ROLE", "web", 1))); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "old.tar")
	os.WriteFile(art, []byte("an old build"), 0o644)
	testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
		r, err := reconcile.CreateRelease(ctx, tx, sqlstore.NewRelease{Service: "web", Environment: "staging", Version: "0.9", CreatedBy: "carol",
			Artifact: shipgate.Artifact{Location: art, SHA256: shipgate.SHA256Hex([]byte("an old build")), Size: 12}})
		if err != nil {
			return err
		}
		_, _, err = reconcile.Release(ctx, tx, r.ID)
		return err
	})
	tok, _ := admin.CreateAgentToken(ctx, "hosts")
	reg, err := register(t, f, tok.Secret, "web-1", map[string]string{"role": "web"})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.NewAgent(f.srv.URL, reg.Secret)
	asg, ok, err := agent.Claim(ctx, shipgate.ClaimRequest{ClaimID: "c", Wait: time.Second})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// Swapped for a symlink into a directory the server never reads.
	denied := deniedFile(t, "secret")
	os.Rename(art, art+".orig")
	os.Symlink(denied, art)
	if got, err := download(t, agent, asg.Key); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || got != "" {
		t.Fatalf("a legacy path swapped for a denied file: got %q, %v", got, err)
	}
	// Other bytes are not imported.
	os.Remove(art)
	os.WriteFile(art, []byte("a newer build"), 0o644)
	if got, err := download(t, agent, asg.Key); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "checksum mismatch") || got != "" {
		t.Fatalf("a legacy path with other bytes: got %q, %v", got, err)
	}
	if list, _ := f.h.Artifacts.Store.List(); len(list) != 0 {
		t.Fatalf("other bytes were imported: %+v", list)
	}
	// The pinned bytes are, once; then the file no longer matters.
	os.Rename(art+".orig", art)
	if got, err := download(t, agent, asg.Key); err != nil || got != "an old build" {
		t.Fatalf("import: got %q, %v", got, err)
	}
	os.Remove(art)
	if got, err := download(t, agent, asg.Key); err != nil || got != "an old build" {
		t.Fatalf("after the import: got %q, %v", got, err)
	}
}

// URL artifacts are hashed while downloaded, in one request, and stored up
// to the store's limit; beyond it the release records that its bytes are
// not stored and agents download the URL themselves. A path beyond the
// limit is refused: its file must never be read again.
func TestURLArtifactsAndLimits(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/"))
	}))
	defer srv.Close()
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "svc.yaml", []byte(testutil.ServiceYAML)); err != nil {
		t.Fatal(err)
	}
	store := f.h.Artifacts.Store
	store.MaxBytes = 10
	// The test server is on loopback, which the egress policy refuses
	// unless listed.
	f.h.Artifacts.Client = (&egress.Policy{Allow: []egress.Rule{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}}}).Client(0)
	c := f.client("carol")
	small, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: srv.URL + "/0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if a := small.Artifact; !a.Stored || a.Size != 10 || a.SHA256 != shipgate.SHA256Hex([]byte("0123456789")) || hits.Load() != 1 {
		t.Fatalf("small URL artifact %+v after %d requests", a, hits.Load())
	}
	if _, err := store.Stat(small.Artifact.SHA256); err != nil {
		t.Fatalf("small URL artifact not stored: %v", err)
	}
	big, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "2", Artifact: srv.URL + "/0123456789A"})
	if err != nil {
		t.Fatal(err)
	}
	if a := big.Artifact; a.Stored || a.Size != 11 || a.SHA256 != shipgate.SHA256Hex([]byte("0123456789A")) {
		t.Fatalf("big URL artifact %+v", a)
	}
	if _, err := store.Stat(big.Artifact.SHA256); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("big URL artifact stored: %v", err)
	}
	if b, _ := json.Marshal(small.Artifact); !strings.Contains(string(b), `"stored":true`) {
		t.Fatalf("stored is not part of the artifact: %s", b)
	}
	if b, _ := json.Marshal(big.Artifact); strings.Contains(string(b), `"stored"`) {
		t.Fatalf("an artifact that is not stored says so only by omission (digests of older releases stay): %s", b)
	}
	// Bytes other than --sha256 says are refused and not kept.
	before, _ := store.List()
	other := filepath.Join(t.TempDir(), "other.tar")
	os.WriteFile(other, []byte("other"), 0o644)
	if _, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "3", Artifact: other, SHA256: small.Artifact.SHA256}); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "checksum mismatch: --sha256 says") {
		t.Fatalf("--sha256 mismatch: %v", err)
	}
	if after, _ := store.List(); len(after) != len(before) {
		t.Fatalf("refused bytes were stored: %d files, had %d", len(after), len(before))
	}
	path := filepath.Join(t.TempDir(), "big.tar")
	os.WriteFile(path, []byte("0123456789A"), 0o644)
	if _, err := c.CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "3", Artifact: path}); shipgate.ErrorCode(err) != shipgate.ETOOLARGE || !strings.Contains(err.Error(), "--max-artifact-bytes") {
		t.Fatalf("path beyond the limit: %v", err)
	}
	if rels, _ := c.Releases(ctx, shipgate.ReleaseFilter{}); len(rels) != 2 {
		t.Fatalf("%d releases, want 2", len(rels))
	}
}

// An artifact URL whose host does not resolve is refused with that, and
// with nothing of the server's network: not its DNS resolver's address,
// whether the egress client or another one did the lookup. Nothing is
// created.
func TestArtifactURLLookupErrorsNameNoResolver(t *testing.T) {
	const resolver = "10.255.255.53"
	notFound := func(_ context.Context, _, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, Server: resolver + ":53", IsNotFound: true}
	}
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "svc.yaml", []byte(testutil.ServiceYAML)); err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		_, err := notFound(ctx, "ip", host)
		return nil, err
	}}}
	for _, c := range []*http.Client{(&egress.Policy{LookupNetIP: notFound}).Client(0), plain} {
		f.h.Artifacts.Client = c
		_, err := f.client("carol").CreateRelease(ctx, client.CreateReleaseRequest{Service: "web", Environment: "staging", Version: "1", Artifact: "http://0x7f.0.0.1/app.tar"})
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "artifact http://0x7f.0.0.1/app.tar cannot be downloaded: host 0x7f.0.0.1 does not resolve") || strings.Contains(err.Error(), resolver) {
			t.Errorf("unresolvable artifact host: %v", err)
		}
	}
	if rels, _ := f.client("admin").Releases(ctx, shipgate.ReleaseFilter{}); len(rels) != 0 {
		t.Fatalf("refused creates left releases: %v", rels)
	}
}
