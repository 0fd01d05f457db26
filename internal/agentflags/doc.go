// Package agentflags lets an agent serve feature flags to the services it
// supervises, so a flag flip reaches a plain-host service without the
// service calling the server (docs/flags.md, "Flags on agents").
//
// A Mirror keeps the live flags of the environments the agent serves: per
// environment, one long poll of GET /api/v1/agent/flags at a time, which
// the server answers as soon as a flag of that environment changes (a
// kill reaches the agent within the round trip). Every copy is written to
// disk, so a restarted agent serves the last flags it knew while the
// server is unreachable; an environment the agent has not heard from for
// StaleAfter is served all the same, marked stale.
//
// Local serves the mirror over OFREP (internal/ofrep's handler) on a
// loopback address, one base URL per environment:
// http://127.0.0.1:PORT/environments/ENV. It asks for no key: whoever can
// reach the loopback address is a process on this host.
package agentflags
