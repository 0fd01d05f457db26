// Package evidence understands the files attached to releases: it parses
// each known type (SBOMs, coverage reports, SARIF scans, JUnit results,
// links, Sigstore bundles) into the small summary policies and checklists
// read, and refuses a malformed file with the parser's message (with the
// line where the format has lines) so nothing half-understood is stored.
//
// Parsing is pure: bytes in, summary or error out. Signature verification
// is offline, against the key or trusted root the server is configured
// with (SignatureVerifier).
package evidence
