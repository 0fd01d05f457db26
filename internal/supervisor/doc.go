// Package supervisor keeps an agent's services running: each instance is a
// process in its own process group on a loopback port of its own, probed
// for health, restarted with exponential backoff when it exits, and
// stopped with SIGTERM then SIGKILL to its whole group.
//
// Processes outlive the agent on purpose (no parent-death signal), so an
// agent restart or upgrade does not restart the services. Every change is
// written atomically to dir/state.json: each instance's spec, port, PID and
// the PID's start time from /proc/<pid>/stat. Open re-adopts an instance
// whose PID is alive with the same start time (a reused PID has another)
// on the same boot, and watches it by polling /proc, since a process that
// is not our child cannot be waited for; when it dies it is restarted as a
// child. An instance whose process is gone is restarted on its old port,
// and one whose Stop was interrupted is stopped. A state file that cannot
// be read makes Open fail without touching any process, and a lock on dir
// keeps two supervisors from sharing it.
//
// Logs go to dir/logs/<id>.log, written by the process directly (so they
// do not need the agent alive) and rotated by copy-and-truncate to .1 past
// 10 MiB.
package supervisor
