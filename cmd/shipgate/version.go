package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what `shipgate version` prints: what the binary was built
// from, as the Go toolchain recorded it.
type buildInfo struct {
	Version    string `json:"version"`
	Module     string `json:"module"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	// Dirty says whether the tree had uncommitted changes; nil (absent
	// from the JSON) when the build recorded no VCS information, so
	// unknown is never reported as clean.
	Dirty     *bool  `json:"dirty,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// readBuildInfo reads the module version and VCS stamp of the binary;
// -ldflags "-X main.version=…" wins over the module version.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module = info.Main.Path
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			dirty := s.Value == "true"
			b.Dirty = &dirty
		}
	}
	if b.Commit == "" {
		b.Dirty = nil // no revision: what "modified" was measured against is unknown
	}
	return b
}

// String is the one line of --version and of version's text.
func (b buildInfo) String() string {
	s := "shipgate " + b.Version
	if b.Commit != "" {
		s += " commit " + b.Commit
		if b.CommitTime != "" {
			s += " (" + b.CommitTime + ")"
		}
		if b.Dirty != nil && *b.Dirty {
			s += " dirty"
		}
	} else {
		s += " (no VCS information: built outside a git checkout, or with -buildvcs=false)"
	}
	return s + " " + b.GoVersion + " " + b.Platform
}

func (m *Main) versionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the version, the commit it was built from, its time and whether the tree was modified",
		Long: `Show the version, the commit the binary was built from, its time and whether
the tree was modified. A binary built outside a git clone (a git worktree, a
source archive) or with -buildvcs=false has no VCS information: the text says
"(no VCS information …)" and -o json leaves out commit, commit_time and dirty
(unknown, not clean).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := readBuildInfo()
			return m.render(&b, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, b.String())
				return err
			})
		},
	}
	m.addOutputFlag(cmd)
	return cmd
}
