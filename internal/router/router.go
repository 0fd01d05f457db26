package router

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shipgate/shipgate"
)

// Backend is one running instance of a version. The router counts traffic
// per ID rather than per version so that a restarted instance, or the same
// version started again for a rollback, starts clean only when the runner
// says so (Forget).
type Backend struct {
	ID      string // unique instance id; counters are kept per ID
	Version string
	Addr    string // host:port of the instance
}

// Table is a service's routing state. The runner computes a whole Table per
// step and hands it to Set, so the router never sees a half-applied change.
//
// When only one of Stable and Canary is set it takes all traffic whatever
// Weight says: serving the one running version beats answering 503.
type Table struct {
	Stable  *Backend
	Canary  *Backend
	Weight  int      // canary's share of traffic in percent, 0..100
	Preview *Backend // blue-green: the only backend the preview listener serves
}

// Roles, as the metrics label them.
const (
	roleStable  = "stable"
	roleCanary  = "canary"
	rolePreview = "preview"
)

// Router fronts services with listeners, routes their requests by each
// service's Table and counts what every backend did. One Router serves all
// of an agent's services over one shared Transport, so keep-alive
// connections to instances are pooled across them.
type Router struct {
	logger    *slog.Logger
	transport http.RoundTripper // a *http.Transport, but for benchmarks

	mu       sync.Mutex
	closed   bool
	services map[string]*service
	meters   map[string]*meter
}

// service is one service's routing state and listeners. Its handlers hold
// the *service directly, so a request never looks anything up by name.
type service struct {
	name    string
	table   atomic.Pointer[snapshot]
	front   *listener
	preview *listener
}

type listener struct {
	requested string // the address Serve was given
	addr      string // the address actually bound
	ln        net.Listener
	srv       *http.Server
}

// close stops the listener synchronously, so its address is free when it
// returns. srv.Close alone would leave a listener open if the Serve
// goroutine had not registered it yet.
func (l *listener) close() error {
	err := l.srv.Close()
	l.ln.Close() // already closed by srv.Close or Serve: harmless
	return err
}

// snapshot is an immutable, resolved Table: what a request routes against.
type snapshot struct {
	table                   Table // private copy, as Get returns it
	stable, canary, preview *target
}

// target is a backend resolved for the hot path.
type target struct {
	backend Backend
	role    string
	meter   *meter
	version []string // the X-Shipgate-Version response header value, shared read-only
}

var emptySnapshot = &snapshot{}

// New returns a Router that serves nothing yet. A nil logger discards.
func New(logger *slog.Logger) *Router {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Router{
		logger:    logger,
		transport: NewTransport(),
		services:  make(map[string]*service),
		meters:    make(map[string]*meter),
	}
}

// Serve opens the front listener of service: the address its clients use,
// routed by the service's Table. Asking again for the same address is a
// no-op, so the runner can call it on every reconcile; asking for another
// address while one is open is a conflict, because moving a listener under
// live clients is a decision for a person (Remove first).
func (r *Router) Serve(service, listen string) error {
	return r.serve(service, listen, false)
}

// ServePreview opens the blue-green preview listener of service, which
// serves only Table.Preview, so the new version can be exercised and
// analysed before any client reaches it.
func (r *Router) ServePreview(service, listen string) error {
	return r.serve(service, listen, true)
}

func (r *Router) serve(name, addr string, preview bool) error {
	kind := "front"
	if preview {
		kind = "preview"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return shipgate.Errorf(shipgate.EFAILEDPRECONDITION, "router is closed")
	}
	if svc := r.services[name]; svc != nil {
		l := svc.front
		if preview {
			l = svc.preview
		}
		if l != nil && (addr == l.requested || addr == l.addr) {
			return nil
		} else if l != nil {
			return shipgate.Errorf(shipgate.ECONFLICT, "service %q already has its %s listener on %s; cannot also listen on %s", name, kind, l.addr, addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			by := "another process"
			if other, otherKind := r.holder(addr); other != "" {
				by = fmt.Sprintf("the %s listener of service %q", otherKind, other)
			}
			return fmt.Errorf("%w: %w", shipgate.Errorf(shipgate.ECONFLICT, "%s address %s of service %q is already in use by %s", kind, addr, name, by), err)
		}
		return fmt.Errorf("%w: %w", shipgate.Errorf(shipgate.EINVALID, "cannot open the %s listener of service %q on %s", kind, name, addr), err)
	}
	svc := r.service(name)
	slot := &svc.front
	if preview {
		slot = &svc.preview
	}
	h := &handler{r: r, svc: svc, preview: preview}
	srv := &http.Server{
		Handler: h,
		// Slow-loris protection without limiting slow uploads or long
		// responses: bodies stream for as long as they take.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
	}
	*slot = &listener{requested: addr, addr: ln.Addr().String(), ln: ln, srv: srv}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("router listener stopped", "service", name, "listener", kind, "addr", addr, "error", err)
		}
	}()
	r.logger.Info("router listening", "service", name, "listener", kind, "addr", ln.Addr().String())
	return nil
}

// holder names the service and listener of this router bound to addr.
// Caller holds r.mu.
func (r *Router) holder(addr string) (service, kind string) {
	for name, svc := range r.services {
		if l := svc.front; l != nil && (l.requested == addr || l.addr == addr) {
			return name, "front"
		}
		if l := svc.preview; l != nil && (l.requested == addr || l.addr == addr) {
			return name, "preview"
		}
	}
	return "", ""
}

// service returns the named service, creating it. Caller holds r.mu.
func (r *Router) service(name string) *service {
	svc := r.services[name]
	if svc == nil {
		svc = &service{name: name}
		svc.table.Store(emptySnapshot)
		r.services[name] = svc
	}
	return svc
}

// ClosePreview closes the preview listener of service, once the blue-green
// switch made it pointless. It does nothing if there is none.
func (r *Router) ClosePreview(service string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if svc := r.services[service]; svc != nil && svc.preview != nil {
		svc.preview.close()
		svc.preview = nil
	}
}

// Addr returns the address the front listener of service is bound to, with
// a ":0" port resolved, so tests and `shipgate` output can name a real
// address; "" when it has none.
func (r *Router) Addr(service string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if svc := r.services[service]; svc != nil && svc.front != nil {
		return svc.front.addr
	}
	return ""
}

// PreviewAddr is Addr for the preview listener.
func (r *Router) PreviewAddr(service string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if svc := r.services[service]; svc != nil && svc.preview != nil {
		return svc.preview.addr
	}
	return ""
}

// Set replaces the routing table of service in one atomic step: the next
// request routes by t, requests in flight finish where they started. The
// router keeps its own copy of t, and clamps Weight to 0..100.
func (r *Router) Set(service string, t Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.service(service).table.Store(r.build(t))
}

// build resolves t into a snapshot, creating meters for new backends.
// Caller holds r.mu.
func (r *Router) build(t Table) *snapshot {
	s := &snapshot{table: Table{
		Stable:  cloneBackend(t.Stable),
		Canary:  cloneBackend(t.Canary),
		Weight:  min(max(t.Weight, 0), 100),
		Preview: cloneBackend(t.Preview),
	}}
	s.stable = r.target(s.table.Stable, roleStable)
	s.canary = r.target(s.table.Canary, roleCanary)
	s.preview = r.target(s.table.Preview, rolePreview)
	return s
}

func (r *Router) target(b *Backend, role string) *target {
	if b == nil {
		return nil
	}
	m := r.meters[b.ID]
	if m == nil {
		m = new(meter)
		r.meters[b.ID] = m
	}
	return &target{backend: *b, role: role, meter: m, version: []string{b.Version}}
}

func cloneBackend(b *Backend) *Backend {
	if b == nil {
		return nil
	}
	c := *b
	return &c
}

// Get returns the routing table of service as last Set (with Weight
// clamped), as fresh copies the caller may change; the zero Table for an
// unknown service.
func (r *Router) Get(service string) Table {
	r.mu.Lock()
	svc := r.services[service]
	r.mu.Unlock()
	if svc == nil {
		return Table{}
	}
	t := svc.table.Load().table
	return Table{
		Stable:  cloneBackend(t.Stable),
		Canary:  cloneBackend(t.Canary),
		Weight:  t.Weight,
		Preview: cloneBackend(t.Preview),
	}
}

// Remove closes the listeners of service, cutting its open connections, and
// forgets its table. Its backends' counters stay until Forget, because the
// runner may still report them.
func (r *Router) Remove(service string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if svc := r.services[service]; svc != nil {
		svc.closeListeners()
		delete(r.services, service)
	}
}

func (svc *service) closeListeners() error {
	var errs []error
	for _, l := range []*listener{svc.front, svc.preview} {
		if l != nil {
			errs = append(errs, l.close())
		}
	}
	svc.front, svc.preview = nil, nil
	return errors.Join(errs...)
}

// Close closes every listener and idle backend connection; the agent calls
// it on shutdown. Serve fails afterwards.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for name, svc := range r.services {
		errs = append(errs, svc.closeListeners())
		delete(r.services, name)
	}
	if t, ok := r.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Counters returns what the router counted for a backend since it first
// served (or since Forget), the raw material of the analysis; the zero value
// for a backend never seen.
func (r *Router) Counters(backendID string) Counters {
	r.mu.Lock()
	m := r.meters[backendID]
	r.mu.Unlock()
	if m == nil {
		return Counters{}
	}
	return m.snapshot()
}

// Forget drops the counters of a stopped backend so they do not pile up
// over many rollouts. A backend still in a table starts counting again from
// zero.
func (r *Router) Forget(backendID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.meters[backendID]; !ok {
		return
	}
	delete(r.meters, backendID)
	for _, svc := range r.services {
		s := svc.table.Load()
		for _, t := range []*target{s.stable, s.canary, s.preview} {
			if t != nil && t.backend.ID == backendID {
				svc.table.Store(r.build(s.table))
				break
			}
		}
	}
}
