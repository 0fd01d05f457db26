package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// Ports FreeAddr hands out lie below Linux's ephemeral range (32768–60999
// by default), from which the kernel picks the local port of every
// outgoing connection: a port taken from that range (by listening on port
// 0 and closing) can be given to some test's client connection before the
// test binds it again ("address already in use", seen in CI).
const (
	freePortLow  = 20000
	freePortHigh = 32767
)

var (
	freeMu     sync.Mutex
	handedOut  = map[int]bool{}
	freeRandom = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
)

// FreeAddr returns a 127.0.0.1 address with a port nobody listens on now,
// outside the ephemeral range and never handed out twice by this process,
// for a test to bind later (a server's front, a service's listen address).
func FreeAddr(t testing.TB) string {
	t.Helper()
	freeMu.Lock()
	defer freeMu.Unlock()
	for range 1000 {
		port := freePortLow + freeRandom.IntN(freePortHigh-freePortLow+1)
		if handedOut[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // in use
		}
		l.Close()
		handedOut[port] = true
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}
