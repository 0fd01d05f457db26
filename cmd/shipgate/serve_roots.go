package main

// The files of the server that artifact roots must never hand out, and
// what serve says about roots that hold them.

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// serverFiles are the files the server reads as configuration or secrets,
// or writes its log and first admin token to, as absolute paths: no
// artifact may be one of them, wherever they lie. (Its data directory and
// artifact store are refused whole besides.)
func (m *Main) serverFiles(cfg ServeConfig, auditKeyFile, dsn string, outputs ...io.Writer) []string {
	// The keys in the data directory too: the directory is refused by
	// path, but a hard link to a key elsewhere is caught only by the key
	// file's identity.
	files := []string{cfg.ConfigFile, cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA, auditKeyFile, filepath.Join(cfg.DataDir, "secret.key")}
	files = append(files, sqlstore.Files(dsn, m.Getenv)...)
	// systemd's credentials of this service, if it runs as one.
	files = append(files, m.Getenv("CREDENTIALS_DIRECTORY"))
	for _, w := range outputs { // `shipgate serve > nohup.out` in the artifact root
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				if p, err := artifactstore.OpenedPath(f); err == nil {
					files = append(files, p)
				}
			}
		}
	}
	var out []string
	for _, f := range files {
		if f == "" {
			continue
		}
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// warnWideRoots tells about the server's files and the kernel's that lie
// under an artifact root and exist: they are refused as artifacts either
// way. A kernel directory under a root (a root of /) is a WARN: the root is
// far wider than it should be. The server's own files (a config file or a
// log beside the server, in the working directory that is the default
// root) make one INFO line per root, not one WARN per file at every start.
// The data directory and the artifact store (ownDirs) are left out: the
// default root holds the default data directory, and the flag says it is
// never read.
func warnWideRoots(sources *artifactstore.Sources, files, ownDirs []string, logger *slog.Logger) {
	own := &artifactstore.Sources{Roots: ownDirs}
	held := map[string][]string{} // root → the server's files under it
	var roots []string
	for _, p := range append(slices.Clone(artifactstore.SystemDirs), files...) {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, in := own.RootOf(p); in {
			continue
		}
		root, in := sources.RootOf(p)
		if !in {
			continue
		}
		if slices.Contains(artifactstore.SystemDirs, p) {
			logger.Warn("an artifact root holds a directory of the kernel's: its files are refused as artifacts, but the root is far wider than it should be; narrow --artifact-root", "root", root, "path", p)
			continue
		}
		if held[root] == nil {
			roots = append(roots, root)
		}
		held[root] = append(held[root], p)
	}
	for _, root := range roots {
		logger.Info("the artifact root also holds the server's own files; they are refused as artifacts (give --artifact-root a directory of builds only to keep them apart)", "root", root, "files", strings.Join(held[root], ", "))
	}
}
