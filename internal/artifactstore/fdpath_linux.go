package artifactstore

import (
	"os"
	"strconv"
)

// openedPath is the path of the file f has open, as the kernel knows it.
func openedPath(f *os.File) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	var path string
	var rerr error
	err = rc.Control(func(fd uintptr) {
		path, rerr = os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
	})
	if err != nil {
		return "", err
	}
	return path, rerr
}
