// Package webhook signs and verifies the bodies of shipgate's webhook
// notifications. Receivers import it; the server signs with it.
//
// Every webhook request carries the header
//
//	X-Shipgate-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]
//
// where each <hex> is HMAC-SHA256, keyed with one of the sink's secrets,
// over "<t>." followed by the raw body. A sink with several secrets (while
// one is being rotated) sends one v1 per secret; a receiver accepts the
// request when any v1 matches any secret it holds and t is within a
// tolerance of its clock (which stops replays of old requests). The parts
// may come in any order; empty parts and unknown keys (a future v2) are
// ignored. A header carries at most MaxSecrets v1 values.
//
// Verify before parsing: read the raw body, call Verify, and only then
// decode the JSON.
package webhook
