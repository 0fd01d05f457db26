package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDatabaseFile takes an exclusive flock on a SQLite database file
// itself, creating the file (mode 0600, as sqlstore.Open does) when
// create is set and it is missing. serve holds it for its lifetime and
// admin reset-token while it writes: a symbolic or hard link to a store
// in use reaches the same inode and is refused, wherever the link lies
// and whatever serve.lock it would find beside itself.
//
// On Linux flock is independent of the POSIX (fcntl) locks SQLite takes,
// so it does not disturb them. But closing any descriptor of the file
// drops the process's POSIX locks on it: unlock must run only after the
// database is closed (or before it is opened).
func lockDatabaseFile(path string, create bool) (unlock func(), err error) {
	flags := os.O_RDONLY
	if create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		flags |= os.O_CREATE
	}
	f, err := flockFile(path, flags)
	if err != nil {
		var held *heldError
		if !errors.As(err, &held) {
			return nil, fmt.Errorf("lock the database %s: %w", path, err)
		}
		held.f.Close()
		real := resolvePath(path)
		if real != path {
			real = path + ", which is " + real
		}
		return nil, fmt.Errorf("a shipgate server is already running on this database (%s, opened by another shipgate serve or admin reset-token, perhaps through a hard or symbolic link): stop it first", real)
	}
	return func() { f.Close() }, nil
}

// resolvePath is path with its symbolic links resolved, for choosing the
// directory whose serve.lock counts and for naming it: the file's when it
// exists, else its directory's (the file is created there), else path.
func resolvePath(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return path // a link to nothing: creating it creates its target, named below
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(r, filepath.Base(path))
	}
	return path
}

// checkDanglingLink refuses a SQLite database path that is a symbolic
// link to nothing: opening it would create a store wherever the link
// points, out of sight of every lock named after the link.
func checkDanglingLink(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		target, _ := os.Readlink(path)
		return fmt.Errorf("the database %s is a symbolic link to %s, which does not exist: give the database's own path", path, target)
	}
	return nil
}

// heldError is flockFile's answer when another process holds the lock;
// f is the file, open, for reading what the holder wrote into it.
type heldError struct{ f *os.File }

func (e *heldError) Error() string { return "locked by another process" }

// flockFile opens path and takes an exclusive flock on it without
// waiting. A file removed or replaced between the open and the lock (a
// failed start removing what it created) is opened again: a lock on a
// file no longer at path would lock nothing anyone else looks at.
func flockFile(path string, flags int) (*os.File, error) {
	for range 5 {
		f, err := os.OpenFile(path, flags, 0o600)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &heldError{f}
			}
			f.Close()
			return nil, err
		}
		locked, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(locked, now) {
			return f, nil
		}
		f.Close()
		if err1 != nil {
			return nil, err1
		}
	}
	return nil, fmt.Errorf("%s keeps being replaced while it is locked", path)
}
