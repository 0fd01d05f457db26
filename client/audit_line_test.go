package client

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// The fast decoding of event lines gives exactly the event json.Unmarshal
// gives, or leaves the line to json.Unmarshal: a difference would make
// the client hash something other than what the server sent.
func TestAuditLineDecoderMatchesJSON(t *testing.T) {
	texts := []string{"alice", "release/7", "", "<b>", `q"uote`, `back\\slash`, "tab\t", "ünï", "\u2028", "\xff", "system", strings.Repeat("a", 100)}
	times := []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 120000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(2026, 7, 1, 0, 0, 0, 7, time.UTC),
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var d auditLineDecoder
	var e shipgate.AuditEvent
	fast := 0
	for i := 0; i < 3000; i++ {
		src := shipgate.NewAuditEvent(texts[rng.IntN(len(texts))], texts[rng.IntN(len(texts))], texts[rng.IntN(len(texts))], map[string]any{"i": i, "t": texts[rng.IntN(len(texts))]})
		src.Seq = rng.Int64N(1<<62) + 1
		src.At = times[rng.IntN(len(times))]
		if i%2 == 0 {
			src.At = time.UnixMicro(rng.Int64N(1 << 52)).UTC()
		}
		src.PrevHash, src.Hash = shipgate.SHA256Hex([]byte{byte(i)}), shipgate.SHA256Hex([]byte{byte(i), 1})
		line := src.AppendJSON(nil)
		var want shipgate.AuditEvent
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var probe shipgate.AuditEvent
		if d.fast(line, &probe) {
			fast++
		}
		if err := d.decode(line, &e); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !reflect.DeepEqual(e, want) || e.At.Location() != want.At.Location() {
			t.Fatalf("line %s\n decoded %+v\n    json %+v", line, e, want)
		}
	}
	if fast < 100 { // about 7% of these lines have only plain text
		t.Fatalf("only %d of 3000 lines took the fast path", fast)
	}
	// Lines the fast path must not take.
	for _, line := range []string{
		`{"seq":01,"at":"2026-01-02T03:04:05Z","actor":"a","action":"b","subject":"c","details":{},"prev_hash":"` + strings.Repeat("a", 64) + `","hash":"` + strings.Repeat("b", 64) + `"}`,
		`{"seq":1,"at":"2026-02-30T03:04:05Z","actor":"a","action":"b","subject":"c","details":{},"prev_hash":"` + strings.Repeat("a", 64) + `","hash":"` + strings.Repeat("b", 64) + `"}`,
		`{"seq":1,"at":"2026-01-02T03:04:05Z","actor":"a","action":"b","subject":"c","details":{},"prev_hash":"` + strings.Repeat("A", 64) + `","hash":"` + strings.Repeat("b", 64) + `"}`,
		`{"seq":1,"at":"2026-01-02T03:04:05Z","actor":"a\u0041","action":"b","subject":"c","details":{},"prev_hash":"` + strings.Repeat("a", 64) + `","hash":"` + strings.Repeat("b", 64) + `"}`,
	} {
		if d.fast([]byte(line), &e) {
			t.Errorf("fast path took %s", line)
		}
	}
}
