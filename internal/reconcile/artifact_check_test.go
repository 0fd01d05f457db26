package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
)

// CheckArtifact tells a deployable artifact from one a rollback must not
// restore, for each way a release pins its artifact.
func TestCheckArtifact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := artifactstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	d := &Dispatcher{Artifacts: store, ArtifactSources: &artifactstore.Sources{Roots: []string{src}, Deny: []string{store.Dir()}}}

	put := func(body string) shipgate.Artifact {
		res, err := store.Put(strings.NewReader(body), "")
		if err != nil {
			t.Fatal(err)
		}
		return shipgate.Artifact{Location: "/x/" + body, SHA256: res.SHA256, Size: res.Size, Stored: true}
	}
	file := func(name, body string) shipgate.Artifact {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return shipgate.Artifact{Location: p, SHA256: shipgate.SHA256Hex([]byte(body)), Size: int64(len(body))}
	}
	checkWith := func(fn func(context.Context, shipgate.Artifact) (string, error), art shipgate.Artifact, want string) {
		t.Helper()
		note, err := fn(ctx, art)
		switch {
		case want == "" && err != nil:
			t.Fatalf("%s: %v", art.Location, err)
		case want != "" && (shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(shipgate.ErrorMessage(err), want)):
			t.Fatalf("%s: got %v (note %q), want failed_precondition saying %q", art.Location, err, note, want)
		case err != nil && strings.Contains(err.Error(), dir):
			t.Fatalf("the refusal names a server path: %v", err)
		}
	}
	check := func(art shipgate.Artifact, want string) {
		t.Helper()
		checkWith(d.CheckArtifact, art, want)
		checkWith(d.VerifyArtifact, art, want)
	}

	stored := put("good bytes")
	check(stored, "")
	check(stored, "") // the second look finds it checked
	gone := put("collected bytes")
	store.Remove(gone.SHA256)
	check(gone, "the stored copy of sha256:"+gone.SHA256[:12]+"… is missing")
	// Changed in place with a new size: damaged, seen without reading.
	damaged := put("damaged bytes")
	blob := filepath.Join(store.Dir(), "sha256", damaged.SHA256)
	os.Chmod(blob, 0o600)
	os.WriteFile(blob, []byte("other bytes, longer"), 0o600)
	check(damaged, "the stored copy of sha256:"+damaged.SHA256[:12]+"… is damaged")
	// Changed in place with the size kept: the check made inside write
	// transactions never reads the bytes, so it passes (the store refuses
	// them when they are served); the full check catches it.
	same := put("same-size bytes")
	blob = filepath.Join(store.Dir(), "sha256", same.SHA256)
	os.Chmod(blob, 0o600)
	os.WriteFile(blob, []byte("SAME-SIZE BYTES"), 0o600)
	checkWith(d.CheckArtifact, same, "")
	checkWith(d.VerifyArtifact, same, "is damaged")
	if _, err := store.Open(same.SHA256); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("serving same-size damaged bytes: %v", err)
	}

	// A file the store never kept (a release from before the store).
	legacy := file("legacy.tar", "legacy bytes")
	check(legacy, "")
	os.WriteFile(legacy.Location, []byte("replaced bytes!"), 0o644)
	check(legacy, "the artifact file has changed")
	sameFile := file("same.tar", "legacy bytes")
	os.WriteFile(sameFile.Location, []byte("LEGACY BYTES"), 0o644)
	checkWith(d.CheckArtifact, sameFile, "")
	checkWith(d.VerifyArtifact, sameFile, "the artifact file has changed")
	missing := file("missing.tar", "missing bytes")
	os.Remove(missing.Location)
	check(missing, "the artifact file is missing or cannot be read")
	outside := shipgate.Artifact{Location: filepath.Join(dir, "elsewhere.tar"), SHA256: shipgate.SHA256Hex([]byte("x")), Size: 1}
	os.WriteFile(outside.Location, []byte("x"), 0o644)
	check(outside, "the artifact file is missing or cannot be read")

	// A URL larger than the store keeps: not checkable here, allowed, said.
	note, err := d.CheckArtifact(ctx, shipgate.Artifact{Location: "https://example.com/big.tar", SHA256: shipgate.SHA256Hex([]byte("big")), Size: 3 << 30})
	if err != nil || !strings.Contains(note, "cannot be checked here") || !strings.Contains(note, "the agent verifies") {
		t.Fatalf("URL artifact: %q %v", note, err)
	}
	// A stored URL artifact is held to the store like any stored one.
	check(shipgate.Artifact{Location: "https://example.com/gone.tar", SHA256: gone.SHA256, Stored: true}, "is missing")
}
