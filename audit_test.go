package shipgate_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// chain builds a valid chain of n events the way the store does.
func chain(n int) []shipgate.AuditEvent {
	prev := shipgate.GenesisHash
	out := make([]shipgate.AuditEvent, n)
	for i := range out {
		e := shipgate.NewAuditEvent("alice", "release.approved", "release/1", map[string]any{"i": i, "note": "<b>&"})
		e.Seq, e.At, e.PrevHash = int64(i+1), time.Date(2026, 1, 1, 0, 0, i, 123456000, time.UTC), prev
		h, err := e.ComputeHash()
		if err != nil {
			panic(err)
		}
		e.Hash, prev = h, h
		out[i] = e
	}
	return out
}

func verifyChain(events []shipgate.AuditEvent, headSeq int64, headHash string) error {
	var v shipgate.AuditVerifier
	for i := range events {
		if err := v.Add(&events[i]); err != nil {
			return err
		}
	}
	return v.Finish(headSeq, headHash)
}

func TestAuditVerifier(t *testing.T) {
	good := chain(5)
	head := good[4]
	if err := verifyChain(good, head.Seq, head.Hash); err != nil {
		t.Fatal(err)
	}
	tamper := func(f func(c []shipgate.AuditEvent) []shipgate.AuditEvent) error {
		c := make([]shipgate.AuditEvent, len(good))
		copy(c, good)
		return verifyChain(f(c), head.Seq, head.Hash)
	}
	tests := []struct {
		name string
		f    func(c []shipgate.AuditEvent) []shipgate.AuditEvent
		want string
	}{
		{"edited actor", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { c[2].Actor = "mallory"; return c }, "seq 3: content does not match"},
		{"edited details", func(c []shipgate.AuditEvent) []shipgate.AuditEvent {
			c[1].Details = json.RawMessage(`{"i":9}`)
			return c
		}, "seq 2:"},
		{"edited time", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { c[3].At = c[3].At.Add(time.Microsecond); return c }, "seq 4:"},
		{"deleted", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return append(c[:1], c[2:]...) }, "seq 2: event missing"},
		{"reordered", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { c[1], c[2] = c[2], c[1]; return c }, "seq 2"},
		{"tail cut", func(c []shipgate.AuditEvent) []shipgate.AuditEvent { return c[:3] }, "seq 4: the log ends at seq 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tamper(tt.f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Details are hashed byte for byte: re-formatting them is an edit.
func TestAuditHashDetailsExact(t *testing.T) {
	e := chain(1)[0]
	e.Details = json.RawMessage(`{ "i": 0, "note": "\u003cb\u003e\u0026" }`)
	if h, _ := e.ComputeHash(); h == e.Hash {
		t.Fatal("re-formatted details still verify")
	}
	// What the API sends back (json.Encoder re-encoding the raw message) is
	// byte-identical to what was stored.
	orig := chain(1)[0]
	b, _ := json.Marshal(orig)
	var round shipgate.AuditEvent
	json.Unmarshal(b, &round)
	if h, _ := round.ComputeHash(); h != orig.Hash {
		t.Fatal("a JSON round trip changes the hash")
	}
}

func BenchmarkAuditVerify(b *testing.B) {
	events := chain(100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var v shipgate.AuditVerifier
		for j := range events {
			if err := v.Add(&events[j]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}
