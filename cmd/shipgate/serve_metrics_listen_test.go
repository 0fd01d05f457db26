package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/promexport"
)

// TestMetricsListenWarnsOffLoopback: --metrics-listen serves every
// service's name and DORA figures with no authentication; on an address
// reachable from other hosts (":9450") the server says so at start, as it
// does for plain HTTP on --listen. On loopback it says nothing.
func TestMetricsListenWarnsOffLoopback(t *testing.T) {
	for addr, warn := range map[string]bool{"0.0.0.0:0": true, "127.0.0.1:0": false} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		stop := serveControlMetrics(ln, promexport.New(nil, promexport.Options{}), nil, slog.New(slog.NewTextHandler(&buf, nil)))
		stop()
		if got := strings.Contains(buf.String(), "without authentication"); got != warn {
			t.Errorf("%s: warned %v, want %v: %s", addr, got, warn, buf.String())
		}
	}
}
