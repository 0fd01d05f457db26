// Package testutil holds test-only helpers: real stores on SQLite and on a
// throwaway PostgreSQL cluster started from the machine's binaries, a
// controllable clock, factories for common records, and WaitFor, the one
// way a test polls for a condition.
package testutil
