// Package policy compiles and evaluates shipgate's policy gates: Rego
// modules, package shipgate.<name>, whose deny and warn sets judge a
// release at create, approve, start and promote.
//
// Evaluation is made deterministic so a recorded decision can be replayed
// byte for byte: the clock Rego sees is the decision's recorded time, and
// builtins that reach outside the input (http.send, net lookups, random
// numbers, UUIDs, the OPA runtime) are refused at compile time. Results
// are sorted and compared as canonical JSON (Canonical).
package policy
