// Package leader elects one server of those sharing a database to run the
// background work that changes state on its own: the reconciler loop,
// notification delivery, audit checkpoints.
//
// The election is a lease row (sqlstore's AcquireLease, RenewLease,
// ResignLease) in the spirit of River's leader election. An Elector that
// does not lead tries to take the lease every Interval; one that leads
// renews it every Interval and runs the leader's work under a context it
// cancels when the tenure ends: on a refused renewal, and on its own as
// soon as the last successful renewal is older than TTL minus Margin. The
// database writes expiries on its own clock, ahead of the moment the
// renewal was sent; the holder counts TTL−Margin on its own monotonic
// clock from before it sent it. So the holder stops before any other
// server may take over, assuming only that the two clocks run at nearly
// the same rate (not that they agree), and that the process is not
// paused longer than Margin at the wrong moment. The work stays safe even
// then: every write is serialised by the store's locks; the lease saves
// the other servers from repeating it.
//
// On SQLite the server is alone on its database (serve.lock and a lock on
// the file), so an Elector without a Store always leads and touches no
// lease row.
package leader
