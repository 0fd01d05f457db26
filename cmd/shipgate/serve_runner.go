package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate/internal/durable"
)

// localRunnerName names the built-in runner, once per data directory: the
// name is kept in <data>/runner-name and read back on every start, since
// it decides which runner holds an attempt (heartbeats, reports, the
// attempts a restarted runner settles from its journal) and which runner a
// service's jobs wait for — a runner whose name changed would drop the
// work it had in flight.
//
// A new name is local@HOST alone on its database (SQLite). Servers
// sharing a PostgreSQL database may run on one host, and runners must
// never share a name, so there a new data directory's runner is also named
// after it: local@HOST/ab12cd34. A data directory whose runner already ran
// under the old rule (it has runner state but no name file) keeps
// local@HOST.
func localRunnerName(host, dataDir string, shared bool) (string, error) {
	file := filepath.Join(dataDir, "runner-name")
	if b, err := os.ReadFile(file); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" {
			return name, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	name := "local@" + host
	if _, err := os.Stat(filepath.Join(dataDir, "runner")); shared && errors.Is(err, fs.ErrNotExist) {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(abs))
		name += "/" + hex.EncodeToString(sum[:4])
	}
	return name, durable.WriteFile(file, []byte(name+"\n"))
}
