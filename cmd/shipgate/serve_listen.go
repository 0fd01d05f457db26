package main

import (
	"fmt"
	"net"
)

// serveListeners are every address serve listens on. They are bound
// together, before the store is opened: an address in use stops a first
// start before it bootstraps the admin and prints a token that no server
// would then ever accept (and the next start would not print again).
type serveListeners struct {
	api     net.Listener
	metrics net.Listener // nil: no --metrics-listen
	pprof   net.Listener // nil: no --pprof
}

// bindServeListeners binds the API address and the optional ones of cfg,
// or none of them.
func bindServeListeners(cfg ServeConfig) (*serveListeners, error) {
	ls := &serveListeners{}
	var err error
	if ls.api, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if cfg.MetricsListen != "" {
		if ls.metrics, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ls.close()
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	if cfg.PprofAddr != "" {
		if ls.pprof, err = net.Listen("tcp", cfg.PprofAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("--pprof: %w", err)
		}
	}
	return ls, nil
}

// close closes the listeners not yet handed to a server, on an early
// return; closing one a server already closed is harmless.
func (ls *serveListeners) close() {
	for _, l := range []net.Listener{ls.api, ls.metrics, ls.pprof} {
		if l != nil {
			l.Close()
		}
	}
}
