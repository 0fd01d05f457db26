// Package router is the agent's built-in HTTP traffic router: the front
// door of every supervised service, and the instrument the canary analysis
// reads.
//
// Each service has a Table (stable, canary with a weight, blue-green
// preview) that Set swaps atomically; a request is routed once, against the
// table current when it arrived, so a weight change applies to the next
// request and never moves one in flight. A header or cookie pins a request
// to a version. The proxy is a lean HTTP/1.1 reverse proxy over one tuned
// keep-alive Transport, and it counts requests, errors and a fixed
// log-linear latency histogram per backend with atomic adds only, so the
// counters the judge compares cost almost nothing to keep.
//
// The proxy keeps the client's Host header, appends X-Forwarded-For and
// drops hop-by-hop fields both ways. WebSocket upgrades are answered 501
// Not Implemented; any other Upgrade offer (h2c) is dropped like the
// hop-by-hop field it is, and the request proxied as plain HTTP/1.1.
package router
