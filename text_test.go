package shipgate_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

func TestValidateVersion(t *testing.T) {
	for _, v := range []string{"1", "1.0", "v2.3.4-rc.1+build.5", "2026.01.02_3", "A", strings.Repeat("9", 128)} {
		if err := shipgate.ValidateVersion(v); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
	for _, tt := range []struct{ version, msg string }{
		{"", "needs a version"},
		{"-rf", "must start with a letter or digit"},
		{"--config=/etc/passwd", "must start with a letter or digit"},
		{".hidden", "must start with a letter or digit"},
		{"1.0 beta", `(found " ")`},
		{"1.0\x1b[2K\rrelease approved", `"1.0\x1b[2K\rrelease approved"`},
		{"1.0\nrelease 7 approved by alice", `(found "\n")`},
		{"<!channel>", `(found "<")`},
		{"${PORT}", `(found "$")`},
		{"1.0;reboot", `(found ";")`},
		{"a/../../etc", `(found "/")`},
		{"1.0\u202e", `(found "\u202e")`},
		{"é", `(found "é")`},
		{strings.Repeat("9", 129), "longer than 128"},
	} {
		err := shipgate.ValidateVersion(tt.version)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("version %q: %v; want invalid, mentioning %s", tt.version, err, tt.msg)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x1b\r\n\u202e") {
			t.Errorf("version %q: the error itself carries the control characters: %q", tt.version, err)
		}
	}
}

func TestValidateLine(t *testing.T) {
	for _, s := range []string{"", "approved after the canary looked fine", "refs/heads/main", "ünïcode ✓ 日本", `C:\builds\x1b`} {
		if err := shipgate.ValidateLine("comment", s, 100); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
	for _, s := range []string{"a\x1b[31mred", "line\nline", "tab\there", "cr\roverwrite", "del\x7f", "c1\u009b31m", "bidi\u202eevil", "isolate\u2066x\u2069", "sep\u2028x", "nul\x00", "bad \xff utf-8", strings.Repeat("a", 101)} {
		err := shipgate.ValidateLine("comment", s, 100)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "comment") {
			t.Errorf("%q: %v; want an invalid comment", s, err)
		}
	}
}

func TestEscapeText(t *testing.T) {
	for _, tt := range []struct{ in, keep, want string }{
		{"plain text, ünïcode ✓", "", "plain text, ünïcode ✓"},
		{"1.0\x1b[2K\rrelease 7 approved", "", `1.0\x1b[2K\rrelease 7 approved`},
		{"a\nb\tc", "", `a\nb\tc`},
		{"a\nb\tc\r\n", "\n\t", "a\nb\tc\\r\n"},
		{"\x00\x07\x7f", "", `\x00\x07\x7f`},
		{"\u009b2J and \u202egnp.exe", "", `\u009b2J and \u202egnp.exe`},
		{"bad \xff\xfe byte", "", `bad \xff\xfe byte`},
		{"\ufffd stays", "", "\ufffd stays"},
	} {
		if got := shipgate.EscapeText(tt.in, tt.keep); got != tt.want {
			t.Errorf("EscapeText(%q, %q) = %q; want %q", tt.in, tt.keep, got, tt.want)
		}
	}
	// JSON passed through keeps its meaning: the escapes of non-ASCII
	// controls are JSON escapes of the same characters.
	in := map[string]string{"v": "x\u202ey\u0085z\u2028"}
	b, _ := json.Marshal(in)
	var out map[string]string
	if err := json.Unmarshal([]byte(shipgate.EscapeText(string(b), "\n\t")), &out); err != nil || out["v"] != in["v"] {
		t.Fatalf("escaped JSON decodes to %q, %v; want %q", out["v"], err, in["v"])
	}
}
