package shipgate_test

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// referenceHash is the chain rule written the plain way, as the first
// version of shipgate computed it: json.Marshal for each string and
// time.AppendFormat for the time. The fast hashing must agree with it on
// every input, or existing chains stop verifying.
func referenceHash(e *shipgate.AuditEvent) string {
	str := func(s string) string { q, _ := json.Marshal(s); return string(q) }
	b := e.PrevHash + `{"seq":` + strconv.FormatInt(e.Seq, 10) +
		`,"at":"` + e.At.UTC().Format("2006-01-02T15:04:05.000000Z") +
		`","actor":` + str(e.Actor) + `,"action":` + str(e.Action) + `,"subject":` + str(e.Subject) +
		`,"details":` + string(e.Details) + `}`
	return shipgate.SHA256Hex([]byte(b))
}

var awkwardStrings = []string{
	"", "alice", "release/12", `quote " and \ backslash`, "<b>&amp;</b>", "tab\tnew\nline\rcr",
	"\x00\x01\x1f\x7f", "héllo wörld", "日本語", "emoji 🚀", "line\u2028sep\u2029", "bad utf8 \xff\xfe end",
	"\xc3", "a\u00a0b", strings.Repeat("x", 300), "system", "access.denied",
}

var awkwardTimes = []time.Time{
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), // truncated, not rounded
	time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(999, 2, 3, 4, 5, 6, 7000, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 123456789, time.UTC),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 6, 1, 12, 0, 0, 500, time.FixedZone("CEST", 2*3600)), // not UTC: hashed in UTC
	time.Date(2024, 2, 29, 1, 2, 3, 4000, time.Local),
}

// The chain rule must not change: whatever shortcuts the hashing takes,
// every event hashes exactly as the reference formula says.
func TestAuditHashMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	details := []string{`{}`, `{"i":1}`, `{"note":"\u003cb\u003e\u0026"}`, `[1,2]`, `"x"`, `{ "spaced" : true }`}
	check := func(e shipgate.AuditEvent) {
		t.Helper()
		got, err := e.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceHash(&e); got != want {
			t.Fatalf("hash of %+v = %s, the chain rule gives %s", e, got, want)
		}
		// The verifier (which reuses its buffers) agrees as well.
		e.Hash = got
		var v shipgate.AuditVerifier
		v.Resume(e.Seq-1, e.PrevHash)
		if err := v.Add(&e); err != nil {
			t.Fatalf("verifier refuses %+v: %v", e, err)
		}
	}
	for _, s := range awkwardStrings {
		for _, at := range awkwardTimes {
			check(shipgate.AuditEvent{Seq: 7, At: at, Actor: s, Action: "release.approved", Subject: s, Details: json.RawMessage(details[0]), PrevHash: shipgate.GenesisHash})
		}
	}
	for i := 0; i < 2000; i++ {
		pick := func() string {
			if rng.IntN(3) == 0 {
				return awkwardStrings[rng.IntN(len(awkwardStrings))]
			}
			b := make([]byte, rng.IntN(20))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			return string(b)
		}
		at := time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9))
		check(shipgate.AuditEvent{Seq: rng.Int64N(1<<62) + 1, At: at, Actor: pick(), Action: pick(), Subject: pick(),
			Details: json.RawMessage(details[rng.IntN(len(details))]), PrevHash: shipgate.SHA256Hex([]byte(pick()))})
	}
}

// Verifying costs no allocation per event, so a long chain is verified at
// the speed of sha256 and in constant memory.
func TestAuditVerifierAllocatesNothingPerEvent(t *testing.T) {
	events := chain(200)
	var v shipgate.AuditVerifier
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		if err := v.Add(&events[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("AuditVerifier.Add allocates %.1f times per event, want 0", allocs)
	}
}

func FuzzAuditHash(f *testing.F) {
	f.Add("alice", "release/1", int64(1700000000123456))
	f.Add("<&>\u2028", "\xff", int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, actor, subject string, micros int64) {
		e := shipgate.AuditEvent{Seq: 1, At: time.UnixMicro(micros), Actor: actor, Action: "a", Subject: subject, Details: json.RawMessage(`{}`), PrevHash: shipgate.GenesisHash}
		got, err := e.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceHash(&e); got != want {
			t.Fatalf("hash %s, chain rule %s", got, want)
		}
	})
}

// AppendJSON writes what json.Marshal writes for any stored event.
func TestAuditEventAppendJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		s := awkwardStrings[rng.IntN(len(awkwardStrings))]
		e := shipgate.NewAuditEvent(s, "release.approved", awkwardStrings[rng.IntN(len(awkwardStrings))], map[string]any{"i": i, "note": s, "n": 1.5e300})
		e.Seq, e.PrevHash, e.Hash = rng.Int64N(1<<62), shipgate.GenesisHash, shipgate.SHA256Hex([]byte(s))
		switch i % 3 {
		case 0:
			e.At = time.UnixMicro(rng.Int64N(1 << 52)).UTC()
		case 1:
			e.At = awkwardTimes[rng.IntN(len(awkwardTimes))].UTC()
		default:
			e.At = time.Date(2026, 5, 1, 2, 3, 4, 0, time.UTC)
		}
		want, err := json.Marshal(e)
		if err != nil {
			continue // a year json.Marshal refuses
		}
		if got := e.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}
	// Stored details go out as stored, except line breaks, which would cut
	// the line; either way the event no longer verifies.
	e := chain(1)[0]
	e.Details = json.RawMessage("{\"a\":\n1}")
	line := e.AppendJSON(nil)
	if strings.ContainsAny(string(line), "\r\n") || !strings.Contains(string(line), `"details":{"a": 1}`) {
		t.Fatalf("line = %s", line)
	}
}
