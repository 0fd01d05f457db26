package main

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
)

// localRunnerName names the built-in runner. Alone on its database (SQLite)
// it is local@HOST. Servers sharing a PostgreSQL database may run on one
// host, and runners must never share a name: the name decides which
// runner holds an attempt (heartbeats, reports, the attempts a restarted
// runner settles from its journal) and which runner a service's jobs wait
// for. There it also names the server's data directory, which is stable
// across restarts: local@HOST/ab12cd34.
func localRunnerName(host, dataDir string, shared bool) string {
	name := "local@" + host
	if !shared {
		return name
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return name + "/" + hex.EncodeToString(sum[:4])
}
