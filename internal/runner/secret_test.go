package runner

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSavedSecret(t *testing.T) {
	dir := t.TempDir()
	if s, err := SavedSecret(dir, "http://a:8080", "web-1"); s != "" || err != nil {
		t.Fatalf("no file: %q %v", s, err)
	}
	if err := SaveSecret(dir, "http://a:8080/", "web-1", "sgs_1"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, secretFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	for _, c := range []struct{ server, name, want string }{
		{"http://a:8080", "web-1", "sgs_1"},
		{"http://a:8080/", "web-1", "sgs_1"},
		{"http://b:8080", "web-1", ""}, // never sent to another server
		{"http://a:8080", "web-2", ""},
	} {
		if s, err := SavedSecret(dir, c.server, c.name); s != c.want || err != nil {
			t.Errorf("%s %s: %q %v, want %q", c.server, c.name, s, err, c.want)
		}
	}
	os.WriteFile(filepath.Join(dir, secretFile), []byte("{"), 0o600)
	if _, err := SavedSecret(dir, "http://a:8080", "web-1"); err == nil {
		t.Fatal("a corrupt secret file read without error")
	}
}
