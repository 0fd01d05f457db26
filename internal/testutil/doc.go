// Package testutil holds test-only helpers: real stores on SQLite and on a
// throwaway PostgreSQL cluster started from the machine's binaries, a
// controllable clock, and factories for common records.
package testutil
