// Package egress decides which destinations the server itself may connect
// to when a user's input names them: artifact URLs, Prometheus and HTTP
// metric providers run by the built-in runner, notification sinks.
//
// A Policy refuses loopback, private (RFC 1918, ULA, CGNAT), link-local,
// unspecified, multicast and reserved addresses unless the server config
// lists them under egress.allow; public addresses are allowed unless
// allow_public is false. The check is made on the address actually dialled,
// after DNS resolution, and, through an HTTP proxy, on the target the proxy
// is asked to reach. A refused destination is never dialled, and every
// refusal is the same error (ErrRefused), so a refusal tells nothing about
// whether anything listens there.
package egress
