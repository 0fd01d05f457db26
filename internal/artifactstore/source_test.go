package artifactstore_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
)

func TestSourcesOpen(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "shipgate-data") // the default: data under the working directory
	outside := t.TempDir()
	os.MkdirAll(data, 0o700)
	os.MkdirAll(filepath.Join(root, "builds"), 0o755)
	write := func(p, s string) { os.WriteFile(p, []byte(s), 0o644) }
	write(filepath.Join(root, "builds", "app.tar"), "app")
	write(filepath.Join(data, "secret.key"), "key")
	write(filepath.Join(outside, "passwd"), "outside")
	os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(root, "out.tar"))
	os.Symlink(filepath.Join(data, "secret.key"), filepath.Join(root, "key.tar"))
	os.Symlink("../shipgate-data/secret.key", filepath.Join(root, "builds", "rel-key.tar"))
	os.Symlink(filepath.Join(root, "builds", "app.tar"), filepath.Join(root, "latest.tar"))
	os.Symlink("app.tar", filepath.Join(root, "builds", "rel.tar"))
	os.Symlink(outside, filepath.Join(root, "outdir"))
	syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600)
	src := &artifactstore.Sources{Roots: []string{root}, Deny: []string{data}}
	tests := []struct {
		path, code, msg, content string
	}{
		{path: filepath.Join(root, "builds", "app.tar"), content: "app"},
		{path: filepath.Join(root, "latest.tar"), content: "app"}, // an absolute symlink that stays inside
		{path: filepath.Join(root, "builds", "rel.tar"), content: "app"},
		{path: filepath.Join(root, "builds", "..", "builds", "app.tar"), content: "app"},
		{path: "builds/app.tar", code: shipgate.EINVALID, msg: "must be absolute"},
		{path: filepath.Join(outside, "passwd"), code: shipgate.EFORBIDDEN, msg: "outside the directories"},
		{path: filepath.Join(root, "out.tar"), code: shipgate.EFORBIDDEN, msg: "outside the directories"},
		{path: filepath.Join(root, "outdir", "passwd"), code: shipgate.EFORBIDDEN, msg: "outside the directories"},
		{path: filepath.Join(root, "builds", "..", "..", filepath.Base(outside), "passwd"), code: shipgate.EFORBIDDEN, msg: "outside"},
		{path: filepath.Join(data, "secret.key"), code: shipgate.EFORBIDDEN, msg: "data directory"},
		{path: filepath.Join(root, "key.tar"), code: shipgate.EFORBIDDEN, msg: "data directory"},
		{path: filepath.Join(root, "builds", "rel-key.tar"), code: shipgate.EFORBIDDEN, msg: "data directory"},
		{path: filepath.Join(root, "builds"), code: shipgate.EINVALID, msg: "not a regular file"},
		{path: filepath.Join(root, "fifo"), code: shipgate.EINVALID, msg: "not a regular file"},
		{path: filepath.Join(root, "missing.tar"), code: shipgate.EINVALID, msg: "cannot be read by the server"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, root), func(t *testing.T) {
			f, err := src.Open(tt.path)
			if tt.code != "" {
				if f != nil {
					f.Close()
				}
				if shipgate.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %s mentioning %q", err, tt.code, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if b, _ := io.ReadAll(f); string(b) != tt.content {
				t.Fatalf("read %q", b)
			}
		})
	}
	if _, err := (&artifactstore.Sources{}).Open(filepath.Join(root, "builds", "app.tar")); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "--artifact-root") {
		t.Fatalf("no roots: %v", err)
	}
}
