// Package durable writes files that must survive a crash whole: the
// runner's attempt journal and service state, the supervisor's state,
// the server's keys.
package durable

import (
	"os"
	"path/filepath"
)

// WriteFile replaces path with b so that a crash leaves either the old
// content or the new: a temp file (mode 0600) in the same directory,
// fsync, rename, and an fsync of the directory, without which the rename
// itself may not survive.
func WriteFile(path string, b []byte) error {
	return placeWhole(path, b, os.Rename)
}

// placeWhole writes b to a synced temp file (mode 0600) beside path, puts
// it at path with place (rename to replace, link to create only), and
// syncs the directory.
func placeWhole(path string, b []byte, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
