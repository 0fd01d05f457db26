package supervisor

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tailLines is how much of a log an error quotes.
const tailLines = 10

// openLog opens an instance's log for appending. O_APPEND matters: after
// rotateLog truncates the file, the process's writes land at the new end
// instead of leaving a hole up to its old offset.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// appendLog writes one line of the supervisor's own into an instance's
// log, so the log tells the whole story (starts, exits, stops).
func appendLog(path, line string) {
	f, err := openLog(path)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(line + "\n")
}

// rotateLog moves a log over limit to path.1 (replacing the previous one)
// and empties it. The process keeps writing to its own descriptor, which
// may be an adopted process's, so the file is copied and truncated rather
// than renamed; lines written between the copy and the truncation are
// lost, which is the price of not standing between a process and its log.
func rotateLog(path string, limit int64) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= limit {
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rotate-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path+".1"); err != nil {
		return err
	}
	if err := os.Truncate(path, 0); err != nil {
		return err
	}
	appendLog(path, "supervisor: log rotated to "+filepath.Base(path)+".1 at "+time.Now().UTC().Format(time.RFC3339))
	return nil
}

// tailLog returns the last n lines of a log.
func tailLog(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 8 << 10
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-window, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil
	}
	if off > 0 { // drop the partial first line
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines[max(len(lines)-n, 0):]
}

func formatTail(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "; last log lines:\n  " + strings.Join(lines, "\n  ")
}
