package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
)

func TestTermWriter(t *testing.T) {
	var b bytes.Buffer
	w := terminal(&b)
	if terminal(w) != w {
		t.Fatal("a termWriter was wrapped twice")
	}
	// Our layout (newlines, tabs) passes; everything that steers a
	// terminal is shown escaped. "é" and "✓" arrive cut across writes.
	for _, p := range []string{"release 1\tok\n", "1.0\x1b[2K\rrelease approved\n", "bidi \u202eexe.txt \xc3", "\xa9 \xe2\x9c", "\x93\n", "\u009b31m\x07\x7f\n", "dangling \xe2\x9c"} {
		w.Write([]byte(p))
	}
	w.Flush()
	want := "release 1\tok\n" + `1.0\x1b[2K\rrelease approved` + "\n" + `bidi \u202eexe.txt é ✓` + "\n" + `\u009b31m\x07\x7f` + "\n" + `dangling \xe2\x9c`
	if b.String() != want {
		t.Fatalf("wrote %q\nwant  %q", b.String(), want)
	}
	// JSON goes through unchanged in meaning.
	b.Reset()
	in := map[string]string{"version": "1.0\x1b[2K\u202e\u0085"}
	json.NewEncoder(w).Encode(in)
	var out map[string]string
	if err := json.Unmarshal(b.Bytes(), &out); err != nil || out["version"] != in["version"] || strings.ContainsAny(b.String(), "\x1b\u202e\u0085") {
		t.Fatalf("JSON through the writer: %q → %q, %v", b.String(), out["version"], err)
	}
}

func TestScrub(t *testing.T) {
	details := json.RawMessage(`{"v":"\u001b"}`)
	v := &client.ReleaseView{
		Release: &shipgate.Release{ID: 7, ReleaseContent: shipgate.ReleaseContent{Version: "1.0\nrelease 7 approved", Inputs: map[string]string{"k\x1b": "a\tb"},
			Source: shipgate.Source{Ref: "main\u202e"}}, Reason: "x\ry"},
		Approvals: []shipgate.Approval{{Comment: "ok\x1b[8m"}},
		Timeline:  []shipgate.AuditEvent{{Actor: "bob\n", Details: details}},
	}
	var iface any = map[string]any{"s": "a\nb", "n": 1}
	holder := &struct {
		Any  any
		list []string // unexported: left alone
	}{Any: iface, list: []string{"\x1b"}}
	scrub(v)
	scrub(holder)
	r := v.Release
	if r.Version != `1.0\nrelease 7 approved` || r.Reason != `x\ry` || r.Source.Ref != `main\u202e` || r.Inputs[`k\x1b`] != `a\tb` || len(r.Inputs) != 1 {
		t.Fatalf("release scrubbed to %+v", r)
	}
	if v.Approvals[0].Comment != `ok\x1b[8m` || v.Timeline[0].Actor != `bob\n` || string(v.Timeline[0].Details) != string(details) {
		t.Fatalf("approvals %+v, timeline %+v", v.Approvals, v.Timeline)
	}
	if m := holder.Any.(map[string]any); m["s"] != `a\nb` || m["n"] != 1 || holder.list[0] != "\x1b" {
		t.Fatalf("holder scrubbed to %+v", holder)
	}
}
