package artifactstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/shipgate/shipgate"
)

// Sources are the files the server may take artifacts from: under one of
// Roots, never one of Deny, never one of SystemDirs.
type Sources struct {
	Roots []string
	// Deny are the server's own files and directories: its data directory,
	// this store, its config file, its keys, its database. A directory
	// refuses everything in it; a file refuses that one file, by path and
	// by identity (a hard link to it too), and nothing else. A file that
	// does not exist yet is refused by path once it does.
	Deny []string
}

// SystemDirs are refused on every server, whatever the roots: the kernel's
// view of processes (/proc: every process's environment, the server's
// SHIPGATE_SECRET_KEY among them), of the system (/sys) and devices
// (/dev, with its shared memory).
var SystemDirs = []string{"/proc", "/sys", "/dev"}

// RootOf returns the root path lies in, if any: the server warns at start
// about denied paths under a root, which is wider than it should be.
func (s *Sources) RootOf(path string) (string, bool) {
	for _, p := range spellings(path) {
		for _, root := range s.Roots {
			for _, r := range spellings(root) {
				if _, ok := within(p, r); ok {
					return root, true
				}
			}
		}
	}
	return "", false
}

// within reports whether path is dir or inside it, and the path relative
// to dir; both are clean and absolute.
func within(path, dir string) (string, bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// spellings are the absolute, clean forms of p: as given and with its
// symlinks resolved. Either may be how a root or a path is written.
func spellings(p string) []string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	out := []string{filepath.Clean(p)}
	if real, err := filepath.EvalSymlinks(p); err == nil && real != out[0] {
		out = append(out, real)
	}
	return out
}

// Open opens the regular file at path for reading, refusing (forbidden)
// any path that is not under a root, or that reaches outside every root or
// into a denied directory through a symlink, at the moment of opening: the
// check and the read are one open, through os.Root, so swapping a symlink
// between them gains nothing. Absolute paths only.
func (s *Sources) Open(path string) (*os.File, error) {
	if len(s.Roots) == 0 {
		return nil, shipgate.Errorf(shipgate.EINVALID, "this server accepts no artifact paths (start it with --artifact-root DIR); use an http(s) URL")
	}
	if !filepath.IsAbs(path) {
		return nil, shipgate.Errorf(shipgate.EINVALID, "artifact path %q must be absolute: the server reads it on its own host", path)
	}
	outside := shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s is outside the directories this server takes artifacts from (%s)", path, strings.Join(s.Roots, ", "))
	var failed error
	for _, p := range spellings(path) {
		for _, root := range s.Roots {
			for _, r := range spellings(root) {
				rel, ok := within(p, r)
				if !ok {
					continue
				}
				f, err := openUnder(r, rel)
				if err == nil {
					return s.check(path, f)
				}
				if !escapes(err) && failed == nil {
					failed = err
				}
			}
		}
	}
	if failed != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read by the server: %v", path, failed)
	}
	return nil, outside
}

// openUnder opens rel under dir through os.Root: symlinks are followed
// only while they stay inside dir. O_NONBLOCK keeps a FIFO from stalling
// the open; it changes nothing for regular files.
func openUnder(dir, rel string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// escapes reports whether err is os.Root refusing a path that leads
// outside it (the standard library does not export that error).
func escapes(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// check refuses a file that is not regular, that is one of the kernel's
// (SystemDirs, or any file of procfs, sysfs and their kind, wherever they
// are mounted), or that is denied. Where the system can say which file an
// open descriptor is (Linux: /proc/self/fd), that is what is checked, not
// the name, so no rename or symlink swap after the open matters.
func (s *Sources) check(path string, f *os.File) (*os.File, error) {
	refuse := func(err error) (*os.File, error) {
		f.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return refuse(shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read by the server: %v", path, err))
	}
	if !st.Mode().IsRegular() {
		return refuse(shipgate.Errorf(shipgate.EINVALID, "artifact %s is not a regular file", path))
	}
	real, err := OpenedPath(f)
	if errors.Is(err, errors.ErrUnsupported) {
		real = spellings(path)[len(spellings(path))-1]
	} else if err != nil {
		return refuse(shipgate.Errorf(shipgate.EINVALID, "artifact %s cannot be read by the server: %v", path, err))
	}
	system := kernelFS(f)
	for _, d := range SystemDirs {
		_, in := within(real, d)
		system = system || in
	}
	if system {
		return refuse(shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s is one of the kernel's files (%s), which artifacts may not come from", path, strings.Join(SystemDirs, ", ")))
	}
	for _, d := range s.Deny {
		if denied(real, st, d) {
			return refuse(shipgate.Errorf(shipgate.EFORBIDDEN, "artifact %s is one of the server's own files (its data, keys, configuration or database), which artifacts may not come from", path))
		}
	}
	return f, nil
}

// denied reports whether the file opened at real, st is the Deny entry d
// or lies in it.
func denied(real string, st os.FileInfo, d string) bool {
	if dst, err := os.Stat(d); err == nil && !dst.IsDir() && os.SameFile(st, dst) {
		return true
	}
	for _, dd := range spellings(d) {
		if _, in := within(real, dd); in {
			return true
		}
	}
	return false
}
