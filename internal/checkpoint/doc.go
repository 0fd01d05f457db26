// Package checkpoint anchors the audit log outside the database.
//
// The server holds an ed25519 key that is never stored in the database
// (LoadKey). Signer signs the chain's head — {seq, hash, time} — at least
// every minute while it moves, and once more on shutdown; the store keeps
// each checkpoint and announces it to the notification sinks in the same
// transaction, and the signer logs it. Copies kept outside the database
// let `shipgate audit verify --checkpoint` expose a log that was rewritten
// and recomputed by someone with write access to the database.
package checkpoint
