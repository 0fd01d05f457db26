// Package flags evaluates feature flags (shipgate.Flag) against an
// evaluation context, the attributes an application passes with each
// evaluation. It is pure: no I/O, no clock, no randomness. Compile checks
// a definition and prepares it once (regexes compiled, versions parsed,
// split percentages turned into bucket ranges); Evaluate then serves any
// number of evaluations concurrently, in about a microsecond each
// (docs/benchmarks.md).
//
// Order of decision: a disabled (killed) flag serves its safe variant
// (DISABLED); otherwise the first rule whose conditions all hold serves
// its variant (TARGETING_MATCH) or splits by its rollout (SPLIT); if none
// holds, the flag's own rollout splits (SPLIT), or the default variant is
// served (DEFAULT, or STATIC for a flag without rules or rollout).
//
// Percentage rollouts hash the flag key and one context attribute:
// bucket = big-endian uint64 of the first 8 bytes of
// SHA-256(flagKey + "\x00" + value) mod 10000, and the split's shares
// take consecutive bucket ranges in their order. docs/flags.md shows it.
package flags
