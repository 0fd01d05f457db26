package artifactstore

import (
	"os"
	"path/filepath"
	"testing"
)

// kernelFS tells procfs and sysfs files by their file system, so a bind
// mount of /proc elsewhere (which the path checks would miss) is refused
// too; an ordinary file is not.
func TestKernelFS(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "app.tar")
	os.WriteFile(plain, []byte("app"), 0o644)
	for path, want := range map[string]bool{"/proc/self/status": true, "/sys/kernel/uevent_seqnum": true, plain: false} {
		f, err := os.Open(path)
		if err != nil {
			t.Logf("%s: %v", path, err)
			continue
		}
		if got := kernelFS(f); got != want {
			t.Errorf("kernelFS(%s) = %v, want %v", path, got, want)
		}
		f.Close()
	}
}
