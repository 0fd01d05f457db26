package httpapi_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

// TestReleaseDeclaresFlags: the flags of a create request are live flags
// of the service in the environment, at most 32, no duplicates; a refused
// request creates nothing and names the flags there are; an accepted one
// keeps them in the release's content and digest (the fixture checks
// every exchange against openapi.json).
func TestReleaseDeclaresFlags(t *testing.T) {
	f := newFixture(t)
	c := f.client("admin")
	if _, err := c.Apply(ctx, "shop.yaml", []byte(flagsYAML)); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(art, []byte("abc"), 0o644)
	req := func(flags ...string) client.CreateReleaseRequest {
		return client.CreateReleaseRequest{Service: "shop", Environment: "staging", Version: "1", Artifact: art, Flags: flags}
	}
	many := make([]string, shipgate.MaxReleaseFlags+1)
	for i := range many {
		many[i] = "f" + strconv.Itoa(i)
	}
	for _, c2 := range []struct {
		flags []string
		want  string
	}{
		{[]string{"new-checkout", "nope"}, `service shop has no flag "nope" in environment staging (it has new-checkout, theme)`},
		{[]string{"theme", "theme"}, `flag "theme" is declared twice`},
		{many, "a release declares at most 32 flags, not 33"},
		{[]string{strings.Repeat("x", 300)}, `service shop has no flag "` + strings.Repeat("x", 80) + `…"`},
	} {
		_, err := c.CreateRelease(ctx, req(c2.flags...))
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("flags %.60q: %v; want invalid: %s", c2.flags, err, c2.want)
		}
	}
	if rels, _ := c.Releases(ctx, shipgate.ReleaseFilter{}); len(rels) != 0 {
		t.Fatalf("refused creates left releases: %v", rels)
	}
	v, err := c.CreateRelease(ctx, req("theme", "new-checkout"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Flags, []string{"theme", "new-checkout"}) {
		t.Fatalf("flags of the release: %v", v.Flags)
	}
	if v.Digest != v.ReleaseContent.Digest() {
		t.Fatalf("digest %s does not cover the content", v.Digest)
	}
	content := v.ReleaseContent
	content.Flags = nil
	if content.Digest() == v.Digest {
		t.Fatal("the digest does not cover the flags")
	}
	plain, err := c.CreateRelease(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	if plain.Flags != nil {
		t.Fatalf("a release without flags declares %v", plain.Flags)
	}
}
