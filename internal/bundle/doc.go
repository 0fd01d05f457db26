// Package bundle builds, signs and verifies a release's evidence bundle:
// an in-toto Statement v1 (shipgate.BundleStatement) whose subject is the
// release's artifact, in a DSSE envelope signed with the audit-checkpoint
// key.
//
// Build reads everything in one read transaction, anchors the release's
// audit events to the earliest checkpoint that covers them (signing the
// head on demand when none does yet), and writes the envelope in its one
// canonical form. Verify needs only the file and the public key: it
// refuses any byte that differs from that form, then checks the DSSE
// signature, the statement, each event's hash and the chain into the
// checkpoint, and reports what those checks prove.
package bundle
