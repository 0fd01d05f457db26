package artifactstore_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
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
		{path: filepath.Join(data, "secret.key"), code: shipgate.EFORBIDDEN, msg: "server's own files"},
		{path: filepath.Join(root, "key.tar"), code: shipgate.EFORBIDDEN, msg: "server's own files"},
		{path: filepath.Join(root, "builds", "rel-key.tar"), code: shipgate.EFORBIDDEN, msg: "server's own files"},
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

// A file entry of Deny (the server's config, a key) refuses that one file
// however it is named — its path, a symlink to it, a hard link to it —
// and nothing else: a file whose name merely begins like it is served.
func TestSourcesDenyFiles(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(root, "server.yaml")
	write(cfg, "slack: https://hooks.slack.com/secret")
	write(filepath.Join(root, "server.yaml.example"), "example")
	write(filepath.Join(root, "server.yaml2"), "other")
	os.MkdirAll(filepath.Join(root, "keys"), 0o700)
	key := filepath.Join(root, "keys", "audit.key")
	write(key, "audit key")
	os.Symlink(cfg, filepath.Join(root, "cfg-link.tar"))
	os.Symlink("keys/audit.key", filepath.Join(root, "key-link.tar"))
	if err := os.Link(key, filepath.Join(root, "hard.tar")); err != nil {
		t.Fatal(err)
	}
	notYet := filepath.Join(root, "db.sqlite-wal") // denied before it exists
	src := &artifactstore.Sources{Roots: []string{root}, Deny: []string{cfg, key, notYet}}
	for name, want := range map[string]string{
		"server.yaml":         "",
		"cfg-link.tar":        "",
		"keys/audit.key":      "",
		"key-link.tar":        "",
		"hard.tar":            "",
		"server.yaml.example": "example",
		"server.yaml2":        "other",
	} {
		t.Run(name, func(t *testing.T) {
			f, err := src.Open(filepath.Join(root, name))
			if want == "" {
				if f != nil {
					f.Close()
				}
				if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "server's own files") {
					t.Fatalf("err = %v, want forbidden: one of the server's own files", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if b, _ := io.ReadAll(f); string(b) != want {
				t.Fatalf("read %q", b)
			}
		})
	}
	write(notYet, "wal")
	if f, err := src.Open(notYet); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN {
		if f != nil {
			f.Close()
		}
		t.Fatalf("a denied file created after the server started: %v", err)
	}
}

// /proc, /sys and /dev are refused even under the root "/" and with no
// Deny at all, however they are reached: /proc/self, /proc/<pid>, a
// symlink into /proc, /dev/fd; /proc/self/root leads back to / and so to
// what the rest of the rules say. (os.Root reads a magic link such as
// /proc/self/fd/N as the path it shows, so it leads to a file by name, or
// nowhere, and that file is checked like any other.)
func TestSourcesRefuseTheKernelsFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.tar"), []byte("app"), 0o644)
	os.Symlink("/proc/self/environ", filepath.Join(dir, "env.tar"))
	os.Symlink("/proc", filepath.Join(dir, "p"))
	shm := "/dev/shm/missing" // a regular file in /dev, where there is one
	if f, err := os.CreateTemp("/dev/shm", "shipgate-test-"); err == nil {
		shm = f.Name()
		f.WriteString("shared memory")
		f.Close()
		t.Cleanup(func() { os.Remove(shm) })
	}
	src := &artifactstore.Sources{Roots: []string{"/"}}
	for _, p := range []string{
		"/proc/self/environ",
		"/proc/" + strconv.Itoa(os.Getpid()) + "/environ",
		"/proc/thread-self/environ",
		"/proc/self/cmdline",
		"/proc/self/root/proc/self/environ",
		filepath.Join(dir, "env.tar"),
		filepath.Join(dir, "p", "self", "environ"),
		"/proc/version",
		"/sys/class/net/lo/address",
		"/dev/fd/0",
		shm,
	} {
		t.Run(p, func(t *testing.T) {
			// Only a path the system lacks is passed over; one that exists
			// must be refused before it is read (a read error would hide a
			// refusal that did not happen).
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				t.Logf("%s is not on this system", p)
				return
			}
			f, err := src.Open(p)
			if f != nil {
				f.Close()
			}
			if shipgate.ErrorCode(err) != shipgate.EFORBIDDEN && !strings.Contains(fmt.Sprint(err), "not a regular file") {
				t.Fatalf("err = %v, want forbidden", err)
			}
		})
	}
	// /proc/self/root/... is the file system seen from /: allowed where
	// the path itself is.
	f, err := src.Open("/proc/self/root" + filepath.Join(dir, "app.tar"))
	if err != nil {
		t.Fatalf("a file reached through /proc/self/root: %v", err)
	}
	f.Close()
}
