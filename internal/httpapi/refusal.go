package httpapi

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// Refusals (401, 403) are audited, but a caller must not be able to grow
// the hash chain by an event per request. They are counted per key — who
// (user, or client address when anonymous), which route, which subject,
// which status — in windows of RefusalWindow: the first refusal of a
// window is written at once, as it happens; the rest are counted and
// written as one event with their count when the window ends (a timer),
// or when the server shuts down (FlushRefusals). A window's count is never
// dropped: if its write fails it is kept and retried. Only a crash loses
// the counts of open windows.

// DefaultRefusalWindow is how long repeated refusals of one key are
// gathered into one event.
const DefaultRefusalWindow = time.Minute

const (
	// refusalKeysPerUser bounds the distinct keys one user opens per
	// window (a viewer walking release ids), refusalKeysPerAddress those
	// of one anonymous client address; beyond, the caller's refusals share
	// one key with route "*". Each key writes at most two events a window.
	refusalKeysPerUser    = 32
	refusalKeysPerAddress = 4
	// maxOpenRefusalKeys bounds the keys open at once, and
	// maxAnonymousNetworks the client networks (IPv4 /24, IPv6 /64) with
	// anonymous keys open; beyond either, anonymous refusals from new
	// networks share one key. Without a valid token, however many
	// networks a party holds, the chain grows by at most about
	// 2·(4·maxAnonymousNetworks + 1) events a minute.
	maxOpenRefusalKeys   = 1000
	maxAnonymousNetworks = 64
)

type refusalKey struct {
	action  string // the audit action: access.denied, agent.join_refused
	actor   string // user name, or "anonymous"
	remote  string // client address of anonymous callers; "" for users
	route   string // the matched route ("GET /api/v1/users"), or "*"
	subject string
	status  int
}

func (k refusalKey) caller() string { return k.actor + "\x00" + k.remote }

// refusalBucket counts the refusals of one key after the first of its
// window, which was written when the bucket opened.
type refusalBucket struct {
	count                int
	firstAt, lastAt      time.Time
	method, path, reason string
	remote               string
	timer                *time.Timer
}

type refusalCounter struct {
	mu      sync.Mutex
	open    map[refusalKey]*refusalBucket
	callers map[string]int // caller → keys open
}

// add counts one refusal. It returns the key the refusal was counted
// under and whether it opened a window, in which case the caller writes
// it now; otherwise it is in the count written when the window ends.
func (c *refusalCounter) add(k refusalKey, at time.Time, method, path, reason, remote string, window time.Duration, expire func(refusalKey, *refusalBucket)) (refusalKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open, c.callers = map[refusalKey]*refusalBucket{}, map[string]int{}
	}
	if c.open[k] == nil {
		switch {
		case k.actor != "anonymous" && c.callers[k.caller()] >= refusalKeysPerUser,
			k.actor == "anonymous" && c.callers[k.caller()] >= refusalKeysPerAddress:
			k.route, k.subject = "*", "api"
		case k.actor == "anonymous" && (len(c.open) >= maxOpenRefusalKeys || c.callers[k.caller()] == 0 && c.anonymousCallers() >= maxAnonymousNetworks):
			k.remote, k.route, k.subject = "*", "*", "api"
		}
	}
	if b := c.open[k]; b != nil {
		b.count++
		b.lastAt, b.method, b.path, b.reason, b.remote = at, method, path, reason, remote
		if b.count == 1 {
			b.firstAt = at
		}
		return k, false
	}
	b := &refusalBucket{}
	c.open[k] = b
	c.callers[k.caller()]++
	b.timer = time.AfterFunc(window, func() { expire(k, b) })
	return k, true
}

// anonymousCallers counts the client networks with anonymous keys open.
func (c *refusalCounter) anonymousCallers() int {
	n := 0
	for caller := range c.callers {
		if strings.HasPrefix(caller, "anonymous\x00") {
			n++
		}
	}
	return n
}

// recount puts a refusal whose write failed into its window's count.
func (c *refusalCounter) recount(k refusalKey, at time.Time, method, path, reason, remote string, window time.Duration, expire func(refusalKey, *refusalBucket)) {
	c.putBack(k, &refusalBucket{count: 1, firstAt: at, lastAt: at, method: method, path: path, reason: reason, remote: remote}, window, expire)
}

// take removes b if it is still the open bucket of k.
func (c *refusalCounter) take(k refusalKey, b *refusalBucket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[k] != b {
		return false
	}
	c.remove(k)
	return true
}

func (c *refusalCounter) remove(k refusalKey) {
	delete(c.open, k)
	if c.callers[k.caller()]--; c.callers[k.caller()] <= 0 {
		delete(c.callers, k.caller())
	}
}

// takeAll removes every open bucket.
func (c *refusalCounter) takeAll() map[refusalKey]*refusalBucket {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.open
	for _, b := range out {
		b.timer.Stop()
	}
	c.open, c.callers = map[refusalKey]*refusalBucket{}, map[string]int{}
	return out
}

// putBack returns an unwritten count: merged into the key's open window,
// or in a window of its own.
func (c *refusalCounter) putBack(k refusalKey, b *refusalBucket, window time.Duration, expire func(refusalKey, *refusalBucket)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open, c.callers = map[refusalKey]*refusalBucket{}, map[string]int{}
	}
	if cur := c.open[k]; cur != nil {
		if cur.count == 0 || b.firstAt.Before(cur.firstAt) {
			cur.firstAt = b.firstAt
		}
		if b.lastAt.After(cur.lastAt) {
			cur.lastAt, cur.method, cur.path, cur.reason, cur.remote = b.lastAt, b.method, b.path, b.reason, b.remote
		}
		cur.count += b.count
		return
	}
	c.open[k] = b
	c.callers[k.caller()]++
	b.timer = time.AfterFunc(window, func() { expire(k, b) })
}

func (h *Handler) refusalWindow() time.Duration {
	if h.RefusalWindow > 0 {
		return h.RefusalWindow
	}
	return DefaultRefusalWindow
}

// auditRefusal records a 401 or 403: the first of its window at once, in
// its own transaction (the refused change was never made), later ones in
// their window's count.
func (h *Handler) auditRefusal(r *http.Request, u *shipgate.User, code, msg string) error {
	k := refusalKey{action: shipgate.ActionAccessDenied, actor: "anonymous", remote: clientNetwork(remoteHost(r)), route: r.Pattern, subject: "api", status: statusOf(code)}
	if u != nil {
		k.actor, k.remote = u.Name, ""
	}
	if k.route == "" || k.route == "/api/" {
		k.route = r.Method + " *" // no route matched: the path is the caller's to choose
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		k.subject = "ui" // the web UI's own refusals (a form without its CSRF token, a failed login)
	}
	if id, err := strconv.ParseInt(r.PathValue("id"), 10, 64); err == nil && (strings.HasPrefix(r.URL.Path, "/api/v1/releases/") || strings.HasPrefix(r.URL.Path, "/releases/")) {
		k.subject = shipgate.ReleaseSubject(id)
	}
	return h.countRefusal(r, k, msg, nil)
}

// countRefusal counts one refusal of r under k. The first of its window is
// written now, in a transaction of its own, with extra details (what a
// refused join asked for); the rest go into the window's count, written as
// one event of k.action when the window ends. A first refusal whose write
// fails is put into the count, to be written with it.
func (h *Handler) countRefusal(r *http.Request, k refusalKey, msg string, extra map[string]any) error {
	now, path, remote, window := time.Now(), clip(r.URL.Path, 256), remoteHost(r), h.refusalWindow()
	k, opened := h.refusals.add(k, now, r.Method, path, msg, remote, window, h.expireRefusals)
	if !opened {
		return nil
	}
	details := map[string]any{
		"method": r.Method, "path": path, "status": k.status, "reason": msg, "remote": remote, "count": 1, "route": k.route,
	}
	maps.Copy(details, extra)
	ev := shipgate.NewAuditEvent(k.actor, k.action, k.subject, details)
	ctx := context.WithoutCancel(r.Context())
	if err := h.DB.Update(ctx, func(tx *sqlstore.Tx) error { return tx.Audit(ctx, ev) }); err != nil {
		h.refusals.recount(k, now, r.Method, path, msg, remote, window, h.expireRefusals)
		return err
	}
	return nil
}

// expireRefusals writes a window's count when the window ends.
func (h *Handler) expireRefusals(k refusalKey, b *refusalBucket) {
	if !h.refusals.take(k, b) || b.count == 0 {
		return
	}
	if err := h.writeRefusals(context.Background(), map[refusalKey]*refusalBucket{k: b}); err != nil {
		h.Logger.Error("audit refusal count; kept to retry", "err", err, "count", b.count)
		h.refusals.putBack(k, b, h.refusalWindow(), h.expireRefusals)
	}
}

// FlushRefusals writes the counts of every open window now. The server
// calls it on shutdown, after it stopped taking requests, so no refusal
// is lost from the log. Each window is written on its own: one that cannot
// be written is kept (and its error returned) without holding up the rest.
func (h *Handler) FlushRefusals(ctx context.Context) error {
	all := h.refusals.takeAll()
	keys := make([]refusalKey, 0, len(all))
	for k, b := range all {
		if b.count > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b refusalKey) int { return all[a].firstAt.Compare(all[b].firstAt) })
	var errs []error
	for _, k := range keys {
		b := all[k]
		if err := h.writeRefusals(ctx, map[refusalKey]*refusalBucket{k: b}); err != nil {
			h.refusals.putBack(k, b, h.refusalWindow(), h.expireRefusals)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeRefusals appends one event of its key's action per bucket with
// refusals counted, in one transaction, oldest first.
func (h *Handler) writeRefusals(ctx context.Context, buckets map[refusalKey]*refusalBucket) error {
	type dated struct {
		at time.Time
		ev shipgate.AuditEvent
	}
	var list []dated
	for k, b := range buckets {
		if b.count == 0 {
			continue
		}
		list = append(list, dated{b.firstAt, shipgate.NewAuditEvent(k.actor, k.action, k.subject, map[string]any{
			"method": b.method, "path": b.path, "status": k.status, "reason": b.reason, "remote": b.remote,
			"count": b.count, "route": k.route,
			"first_at": b.firstAt.UTC().Format(time.RFC3339Nano), "last_at": b.lastAt.UTC().Format(time.RFC3339Nano),
		})})
	}
	if len(list) == 0 {
		return nil
	}
	slices.SortFunc(list, func(a, b dated) int { return a.at.Compare(b.at) })
	events := make([]shipgate.AuditEvent, len(list))
	for i, d := range list {
		events[i] = d.ev
	}
	ctx = context.WithoutCancel(ctx)
	return h.DB.Update(ctx, func(tx *sqlstore.Tx) error { return tx.Audit(ctx, events...) })
}

// clientNetwork is the network an anonymous caller's refusals are counted
// under: its IPv4 /24 or IPv6 /64. One party usually holds a whole such
// network (an IPv6 host gets a /64), so counting per address would let it
// open a window per address it owns. The events still name the address.
func clientNetwork(host string) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return host
	}
	return p.String()
}
