// Package artifactstore keeps the bytes releases pin, by content: a
// release's artifact is copied here when the release is created, and agents
// are served from here only, by digest, re-verified on every read. The
// files the artifact names are never read again, so replacing one after
// creation (with other bytes, or with a symlink to the server's key)
// changes nothing a release deploys.
//
// Layout: <dir>/sha256/<hex digest>, read-only files written through a
// temp file in the same directory, fsync and rename. Sources opens the
// files artifacts are taken from, through os.Root, so a symlink never leads
// outside the directories the server takes artifacts from, and refuses the
// server's own files (Deny) and the kernel's (/proc, /sys, /dev) by the file
// actually opened.
package artifactstore
