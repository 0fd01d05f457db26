// Package notify tells people what happened, in the tools they watch.
//
// Enqueue turns audit events into notifications for each configured sink;
// the store writes them to the outbox in the same transaction as the change
// they announce. A Worker delivers them asynchronously, retries failures
// with backoff, and gives up after a bounded number of attempts, leaving
// them visible as failed. Nothing here ever blocks or fails a release.
//
// Events use the CDEvents vocabulary (service.deployed,
// service.rolledback, pipelinerun.started/finished, and shipgate's own
// custom events dev.cdeventsx.shipgate-rollback.* and
// dev.cdeventsx.shipgate-auditcheckpoint.signed) wrapped as CloudEvents in
// structured JSON mode; a test validates each against the official
// CDEvents v0.4.1 schemas in testdata. Webhook bodies are signed by the
// public package webhook, which receivers import to verify them.
package notify
