package artifactstore

import (
	"os"
	"strconv"
	"syscall"
)

// OpenedPath is the path of the file f has open, as the kernel knows it:
// what a rename or a symlink swap since the open does not change.
func OpenedPath(f *os.File) (string, error) {
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

// kernelFileSystems are the magic numbers (statfs f_type) of the file
// systems through which the kernel shows processes and itself: procfs,
// sysfs and those usually mounted under /sys.
var kernelFileSystems = map[uint32]bool{
	0x9fa0:     true, // proc
	0x62656572: true, // sysfs
	0x64626720: true, // debugfs
	0x74726163: true, // tracefs
	0x73636673: true, // securityfs
	0x27e0eb:   true, // cgroup
	0x63677270: true, // cgroup2
	0xde5e81e4: true, // efivarfs
	0xcafe4a11: true, // bpf
	0x6165676c: true, // pstore
	0x62656570: true, // configfs
}

// kernelFS reports whether f is on one of kernelFileSystems, wherever it
// is mounted (a bind mount of /proc under an artifact root, say). If the
// file system cannot be told, it says yes: the file is refused.
func kernelFS(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return true
	}
	var st syscall.Statfs_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return true
	}
	return kernelFileSystems[uint32(st.Type)]
}
