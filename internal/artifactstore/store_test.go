package artifactstore_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
)

func newStore(t *testing.T) *artifactstore.Store {
	t.Helper()
	s, err := artifactstore.Open(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t *testing.T, s *artifactstore.Store, sum string) (string, error) {
	t.Helper()
	r, err := s.Open(sum)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestPutOpen(t *testing.T) {
	s := newStore(t)
	res, err := s.Put(strings.NewReader("build 1"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := shipgate.SHA256Hex([]byte("build 1"))
	if res != (artifactstore.PutResult{SHA256: want, Size: 7, Stored: true}) {
		t.Fatalf("put = %+v", res)
	}
	path := filepath.Join(s.Dir(), "sha256", want)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o400 {
		t.Fatalf("stored file: %v %v", st, err)
	}
	if got, err := readAll(t, s, want); err != nil || got != "build 1" {
		t.Fatalf("open = %q, %v", got, err)
	}
	r, _ := s.Open(want)
	if r.Size() != 7 {
		t.Fatalf("size %d", r.Size())
	}
	r.Close()
	// Storing it again is harmless.
	if _, err := s.Put(strings.NewReader("build 1"), want); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(); err != nil || len(list) != 1 || list[0].SHA256 != want || list[0].Size != 7 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := s.Open(strings.Repeat("0", 64)); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("absent digest: %v", err)
	}
	if _, err := s.Open("../../secret.key"); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("a name that is not a digest: %v", err)
	}
}

func TestPutRefusesOtherBytes(t *testing.T) {
	s := newStore(t)
	pinned := shipgate.SHA256Hex([]byte("build 1"))
	_, err := s.Put(strings.NewReader("something else"), pinned)
	if shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("mismatch: %v", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("other bytes were stored: %+v", list)
	}
	if des, _ := os.ReadDir(filepath.Join(s.Dir(), "sha256")); len(des) != 0 {
		t.Fatalf("a temp file stayed: %v", des)
	}
}

func TestPutBeyondTheLimitHashesWithoutStoring(t *testing.T) {
	s := newStore(t)
	s.MaxBytes = 10
	big := bytes.Repeat([]byte("x"), 25)
	res, err := s.Put(bytes.NewReader(big), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored || res.Size != 25 || res.SHA256 != shipgate.SHA256Hex(big) {
		t.Fatalf("put = %+v", res)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("an oversized artifact was stored: %+v", list)
	}
	// Exactly the limit is kept.
	if res, err := s.Put(bytes.NewReader(big[:10]), ""); err != nil || !res.Stored {
		t.Fatalf("put at the limit = %+v, %v", res, err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestPutReadErrorIsTheSource(t *testing.T) {
	s := newStore(t)
	_, err := s.Put(io.MultiReader(strings.NewReader("half"), failingReader{}), "")
	var re *artifactstore.ReadError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a ReadError", err)
	}
}

// A stored file whose bytes no longer match its digest is never delivered:
// not when it was changed before the read, nor when it changes during it.
func TestDamagedArtifactIsNotServed(t *testing.T) {
	s := newStore(t)
	res, _ := s.Put(strings.NewReader("build 1"), "")
	path := filepath.Join(s.Dir(), "sha256", res.SHA256)
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("SECRET!"), 0o600)
	if _, err := s.Open(res.SHA256); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION || !strings.Contains(err.Error(), "no longer has that digest") {
		t.Fatalf("damaged before the read: %v", err)
	}
	// Storing the right bytes again repairs it.
	if _, err := s.Put(strings.NewReader("build 1"), res.SHA256); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(res.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, []byte("SECRET!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); shipgate.ErrorCode(err) != shipgate.EFAILEDPRECONDITION {
		t.Fatalf("changed during the read: %v", err)
	}
}

// A symlink planted in the store is not followed out of it.
func TestSymlinkInStoreIsNotFollowed(t *testing.T) {
	s := newStore(t)
	outside := filepath.Join(t.TempDir(), "secret.key")
	os.WriteFile(outside, []byte("key"), 0o600)
	sum := shipgate.SHA256Hex([]byte("key"))
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "sha256", sum)); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, s, sum); err == nil {
		t.Fatalf("served %q through a symlink", got)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("a symlink was listed: %+v", list)
	}
}

func TestRemoveAndStaleTemp(t *testing.T) {
	s := newStore(t)
	res, _ := s.Put(strings.NewReader("a"), "")
	if e, err := s.Stat(res.SHA256); err != nil || e.Size != 1 {
		t.Fatalf("stat = %+v, %v", e, err)
	}
	if err := s.Remove(res.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(res.SHA256); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if _, err := s.Stat(res.SHA256); shipgate.ErrorCode(err) != shipgate.ENOTFOUND {
		t.Fatalf("stat after remove: %v", err)
	}
	old := filepath.Join(s.Dir(), "sha256", ".tmp-crashed")
	fresh := filepath.Join(s.Dir(), "sha256", ".tmp-in-flight")
	os.WriteFile(old, []byte("x"), 0o600)
	os.WriteFile(fresh, []byte("x"), 0o600)
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)
	if n, err := s.RemoveStaleTemp(time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("removed %d, %v", n, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("a write in flight was removed")
	}
}

// Storing bytes the store already holds keeps the stored file (no second
// write and fsync) and leaves no temp file behind.
func TestPutOfStoredBytesKeepsTheFile(t *testing.T) {
	s := newStore(t)
	res, err := s.Put(strings.NewReader("build 1"), "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir(), "sha256", res.SHA256)
	before, _ := os.Stat(path)
	again, err := s.Put(strings.NewReader("build 1"), res.SHA256)
	if err != nil || again != res {
		t.Fatalf("second put: %+v %v", again, err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("the stored file was replaced by an identical one")
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), "sha256"))
	if len(entries) != 1 {
		t.Fatalf("store holds %d files, want 1", len(entries))
	}
}
