// Package ofrep serves feature flags over the OpenFeature Remote
// Evaluation Protocol (OFREP, github.com/open-feature/protocol
// service/openapi.yaml): POST /ofrep/v1/evaluate/flags/{key} evaluates one
// flag for the posted context, POST /ofrep/v1/evaluate/flags evaluates
// every flag of the caller's environment, with an ETag so a polling client
// gets 304 Not Modified until something changes.
//
// The Handler knows nothing of storage: a Source gives the compiled flags
// of an environment (a Snapshot), an Authenticator maps the caller's SDK
// key to the environment it may read. Cache is the Source the server uses:
// it keeps one Snapshot per environment and reloads it when the
// environment's flag generation moves, so a kill is served at once.
//
// Key names: a flag is served as its plain key when only one service of
// the environment declares that key, and always as "service/key". A plain
// key two services declare is ambiguous: evaluating it answers 400 GENERAL
// naming both qualified keys, and the bulk answer lists each under its
// qualified key.
package ofrep
