package durable

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteFile(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("temp files left behind: %v", es)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

// A key file is created whole with a fresh key and read back the same; an
// existing file wins; a cut, empty or readable-by-others file is refused
// with what to do; the environment's key is used as it is.
func TestHexKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	k1, err := HexKey("secret key", "SHIPGATE_SECRET_KEY", "", path, 32)
	if err != nil || len(k1) != 32 {
		t.Fatalf("created: %x %v", k1, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", st.Mode().Perm())
	}
	if k2, err := HexKey("secret key", "SHIPGATE_SECRET_KEY", "", path, 32); err != nil || string(k2) != string(k1) {
		t.Fatalf("read back %x %v, want %x", k2, err, k1)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temp files left: %v", entries)
	}
	if k, err := HexKey("secret key", "SHIPGATE_SECRET_KEY", strings.Repeat("ab", 32), path, 32); err != nil || k[0] != 0xab {
		t.Fatalf("from the environment: %x %v", k, err)
	}
	if _, err := HexKey("secret key", "SHIPGATE_SECRET_KEY", "abcd", path, 32); err == nil || !strings.Contains(err.Error(), "SHIPGATE_SECRET_KEY must be 64 hex digits") {
		t.Fatalf("short env key: %v", err)
	}
	for _, content := range []string{"", "abcd\n"} { // what a crash mid-write would have left
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := HexKey("secret key", "SHIPGATE_SECRET_KEY", "", path, 32); err == nil || !strings.Contains(err.Error(), "does not hold a 32-byte hex secret key") {
			t.Fatalf("key file %q: %v", content, err)
		}
	}
	os.Chmod(path, 0o644)
	if _, err := HexKey("secret key", "SHIPGATE_SECRET_KEY", "", path, 32); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable key file: %v", err)
	}
	if err := createExclusive(path, []byte("x")); !errors.Is(err, os.ErrExist) {
		t.Fatalf("createExclusive over an existing file: %v", err)
	}
}
