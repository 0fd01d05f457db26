//go:build !linux

package artifactstore

import (
	"errors"
	"os"
)

// OpenedPath is unsupported here: Sources falls back to checking the
// path's resolved name, which a symlink swapped at the wrong moment can
// get around; run servers that take artifact paths on Linux.
func OpenedPath(*os.File) (string, error) { return "", errors.ErrUnsupported }

// kernelFS is Linux's check of the file system; elsewhere only the paths
// of SystemDirs are refused.
func kernelFS(*os.File) bool { return false }
