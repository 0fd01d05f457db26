package artifactstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shipgate/shipgate"
)

// DefaultMaxBytes is the largest artifact a store keeps unless told
// otherwise (serve --max-artifact-bytes): 2 GiB.
const DefaultMaxBytes = 2 << 30

// tempPrefix names files being written; they are never served or listed.
const tempPrefix = ".tmp-"

// Store is a content-addressed directory of artifacts. Several servers
// sharing one database must share one store directory: any of them may
// serve an artifact another one stored.
type Store struct {
	dir string
	// MaxBytes is the largest artifact the store keeps; 0 means
	// DefaultMaxBytes. Larger ones are hashed but not kept.
	MaxBytes int64
}

// Open opens the store in dir, creating it (mode 0700) if needed.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Store) blobs() string { return filepath.Join(s.dir, "sha256") }

// Entry is one stored artifact.
type Entry struct {
	SHA256 string
	Size   int64
	// ModTime is when the artifact was last stored: a creation in flight
	// stores it anew before its release exists, so gc spares recent files.
	ModTime time.Time
}

// PutResult is what Put read: the digest and size of all of it, and
// whether it was kept (not when it is larger than the store's limit).
type PutResult struct {
	SHA256 string
	Size   int64
	Stored bool
}

// ReadError is a failure to read what Put copies from, as opposed to a
// failure of the store itself; callers tell the two apart for their users.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// Put copies r into the store, hashing exactly the bytes it writes, and
// returns the sha256 and size of everything r held. Beyond MaxBytes the
// rest is still read and hashed, but nothing is kept (Stored is false);
// callers bound r themselves. With want set, bytes whose digest is not want
// are not kept either, and Put fails with failed_precondition.
//
// The file is written to a temp file in the store's directory, synced, made
// read-only and renamed into place, so a crash leaves either no file or the
// whole one; storing a digest again replaces the file (repairing a damaged
// one) and marks it recent.
func (s *Store) Put(r io.Reader, want string) (PutResult, error) {
	tmp, err := os.CreateTemp(s.blobs(), tempPrefix+"*")
	if err != nil {
		return PutResult{}, fmt.Errorf("artifact store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	src := &sourceReader{r: r}
	h := sha256.New()
	limit := s.maxBytes()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(src, limit+1))
	if err == nil && n > limit {
		// Too large to keep: hash the rest without storing it.
		var more int64
		more, err = io.Copy(h, src)
		n += more
	}
	if err != nil {
		tmp.Close()
		if src.err != nil {
			return PutResult{}, &ReadError{src.err}
		}
		return PutResult{}, fmt.Errorf("artifact store: %w", err)
	}
	res := PutResult{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Stored: n <= limit}
	if want != "" && res.SHA256 != want {
		tmp.Close()
		return res, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "artifact checksum mismatch: the release pins sha256 %s but the bytes read have sha256 %s; nothing was stored", want, res.SHA256)
	}
	if !res.Stored {
		tmp.Close()
		return res, nil
	}
	if s.holds(res.SHA256) {
		// The same bytes are stored already (a version promoted from
		// staging to production pins the same artifact): keep the file
		// that verifies, and spare the two fsyncs of storing it again.
		tmp.Close()
		return res, nil
	}
	if err := tmp.Chmod(0o400); err != nil {
		tmp.Close()
		return res, fmt.Errorf("artifact store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return res, fmt.Errorf("artifact store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("artifact store: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.blobs(), res.SHA256)); err != nil {
		return res, fmt.Errorf("artifact store: %w", err)
	}
	if err := syncDir(s.blobs()); err != nil {
		return res, fmt.Errorf("artifact store: %w", err)
	}
	return res, nil
}

// holds reports whether the store has the artifact sum with bytes that
// still hash to it (a damaged file is replaced by the caller).
func (s *Store) holds(sum string) bool {
	r, err := s.Open(sum)
	if err != nil {
		return false
	}
	r.Close()
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func checkDigest(sum string) error {
	if !shipgate.IsSHA256Hex(sum) || strings.ToLower(sum) != sum {
		return shipgate.Errorf(shipgate.EINVALID, "%q is not a sha256 digest (64 lower-case hex digits)", sum)
	}
	return nil
}

// openBlob opens a stored file through os.Root, so that even a symlink
// planted in the store cannot lead outside it, and refuses anything but a
// regular file.
func (s *Store) openBlob(sum string) (*os.File, error) {
	if err := checkDigest(sum); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	defer root.Close()
	f, err := root.OpenFile("sha256/"+sum, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, shipgate.Errorf(shipgate.ENOTFOUND, "artifact sha256 %s is not in the artifact store %s", sum, s.dir)
	} else if err != nil {
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "stored artifact sha256 %s cannot be opened: %v", sum, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "stored artifact sha256 %s is not a regular file; it is not served", sum)
	}
	return f, nil
}

func damaged(sum, got string) error {
	return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "stored artifact sha256 %s no longer has that digest (its bytes hash to %s): it was changed on the server and is not served", sum, got)
}

// Open returns the artifact with digest sum for reading. Its bytes are
// verified before Open returns, and again as they are read: a file whose
// bytes no longer match its digest is never delivered (failed_precondition
// before the first byte; a Read error at the end if it changes while being
// read). A missing artifact is not_found.
func (s *Store) Open(sum string) (*Reader, error) {
	f, err := s.openBlob(sum)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("artifact store: read sha256 %s: %w", sum, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		f.Close()
		return nil, damaged(sum, got)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return &Reader{f: f, h: sha256.New(), sum: sum, size: n}, nil
}

// Reader reads a stored artifact, checking its digest again at the end.
type Reader struct {
	f    *os.File
	h    hash.Hash
	sum  string
	size int64
	n    int64
}

// Size is the artifact's size in bytes, as verified when it was opened.
func (r *Reader) Size() int64 { return r.size }

// Read reads the artifact. Instead of io.EOF it returns an error if the
// bytes read are not the ones the digest pins.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if err == io.EOF {
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.sum || r.n != r.size {
			return n, damaged(r.sum, got)
		}
	}
	return n, err
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// Stat describes a stored artifact without reading it; not_found if absent.
func (s *Store) Stat(sum string) (Entry, error) {
	f, err := s.openBlob(sum)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Entry{}, err
	}
	return Entry{SHA256: sum, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List returns the stored artifacts, by digest. Files being written, and
// anything whose name is not a digest, are left out.
func (s *Store) List() ([]Entry, error) {
	des, err := os.ReadDir(s.blobs())
	if err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	var out []Entry
	for _, de := range des {
		if checkDigest(de.Name()) != nil || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("artifact store: %w", err)
		}
		out = append(out, Entry{SHA256: de.Name(), Size: info.Size(), ModTime: info.ModTime()})
	}
	return out, nil
}

// Remove deletes a stored artifact; removing one that is absent is not an
// error.
func (s *Store) Remove(sum string) error {
	if err := checkDigest(sum); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(s.blobs(), sum))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("artifact store: %w", err)
	}
	return nil
}

// RemoveStaleTemp deletes temp files last written before cutoff: writes
// that a crash interrupted. It returns how many it removed.
func (s *Store) RemoveStaleTemp(cutoff time.Time) (int, error) {
	des, err := os.ReadDir(s.blobs())
	if err != nil {
		return 0, fmt.Errorf("artifact store: %w", err)
	}
	n := 0
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), tempPrefix) || !de.Type().IsRegular() {
			continue
		}
		if info, err := de.Info(); err == nil && info.ModTime().Before(cutoff) {
			if err := os.Remove(filepath.Join(s.blobs(), de.Name())); err == nil {
				n++
			}
		}
	}
	return n, nil
}
