// Package dora computes the DORA software delivery performance metrics —
// deployment frequency, change lead time, change fail rate, failed
// deployment recovery time and rework rate — from a History of releases
// and the incident signals the audit chain records about them (rollbacks,
// failed health gates, aborted canaries, flag kills and mitigations,
// hotfixes). It is pure computation: the store loads a History
// (sqlstore's Tx.DORAHistory) and Compute turns it into a Report.
// docs/metrics.md defines every number and the rule for each edge case.
package dora
