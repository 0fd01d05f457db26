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
	for _, s := range []string{"", "approved after the canary looked fine", "refs/heads/main", "ünïcode ✓ 日本", `C:\builds\x1b`,
		"naïve café, Ærøskøbing, Straße", "한국어 テスト 中文", "नमस्ते", "👍🏽 🇫🇷 🎉",
		"❤️ shipped", "keycap 1️⃣", "葛\U000E0100飾", // one variation selector right after the character it varies
		"nbsp\u00a0and\u3000ideographic space", // spaces that show as space
	} {
		if err := shipgate.ValidateLine("comment", s, 100); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
	for _, tt := range []struct{ in, msg string }{
		{"a\x1b[31mred", `control character "\x1b"`},
		{"line\nline", `control character "\n"`},
		{"tab\there", `control character "\t"`},
		{"cr\roverwrite", `control character "\r"`},
		{"del\x7f", `control character "\x7f"`},
		{"c1\u009b31m", `control character "\u009b"`},
		{"bidi\u202eevil", `control character "\u202e"`},
		{"isolate\u2066x\u2069", `control character "\u2066"`},
		{"sep\u2028x", `control character "\u2028"`},
		{"nul\x00", `control character "\x00"`},
		{"bad \xff utf-8", "not valid UTF-8"},
		{strings.Repeat("a", 101), "longer than 100 bytes"},
		// Format characters (Unicode category Cf) and fillers show as
		// nothing: "refs/\u200bmain" would print as refs/main.
		{"refs/\u200bmain", `invisible character "\u200b"`},
		{"zw\u200cnj", `invisible character "\u200c"`},
		{"zw\u200dj", `invisible character "\u200d"`},
		{"word\u2060joiner", `invisible character "\u2060"`},
		{"soft\u00adhyphen", `invisible character "\u00ad"`},
		{"\ufeffbom", `invisible character "\ufeff"`},
		{"invisible\u2062times", `invisible character "\u2062"`},
		{"mongolian\u180evowel separator", `invisible character "\u180e"`},
		{"abc\U000E0041\U000E0042", `invisible character "\udb40\udc41"`},
		{"tag\U000E0001", `invisible character "\udb40\udc01"`},
		{"arabic\u0600sign", `invisible character "\u0600"`},
		{"cgj\u034f", `invisible character "\u034f"`},
		{"hangul\u115ffiller", `invisible character "\u115f"`},
		{"hangul\u1160filler", `invisible character "\u1160"`},
		{"hangul\u3164filler", `invisible character "\u3164"`},
		{"halfwidth\uffa0filler", `invisible character "\uffa0"`},
		{"braille\u2800blank", `invisible character "\u2800"`},
		{"khmer\u17b4", `invisible character "\u17b4"`},
		{"unassigned\U000E0FFF", `invisible character "\udb43\udfff"`},
		// Variation selectors: one right after a character is how ❤️ is
		// written; anywhere else they carry data nobody sees.
		{"\ufe0fstart", `variation selector "\ufe0f"`},
		{"a\ufe0f\ufe0fb", `variation selector "\ufe0f"`},
		{"hidden\U000E0100\U000E0101\U000E0102", `variation selector "\udb40\udd00"`},
		{"葛\U000E0100\U000E0101", `variation selector "\udb40\udd01"`},
		{"after a joiner\u200b\ufe0f", `invisible character "\u200b"`},
		// ...and only after a character it has variants for: after "/"
		// or a letter it shows as nothing.
		{"refs/\ufe0fmain", `variation selector "\ufe0f"`},
		{"abc\ufe0fdef", `variation selector "\ufe0f"`},
		{"ok/\ufe00 done", `variation selector "\ufe00"`},
		{"latin\U000E0100", `variation selector "\udb40\udd00"`},
		// Default-ignorable, unassigned and noncharacter code points.
		{"refs/\u2065main", `invisible character "\u2065"`},
		{"non\ufffecharacter", `invisible character "\ufffe"`},
		{"unassigned\ud7ff", `invisible character "\ud7ff"`},
		{"private\ue000use", `invisible character "\ue000"`},
	} {
		err := shipgate.ValidateLine("comment", tt.in, 100)
		if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.HasPrefix(shipgate.ErrorMessage(err), "comment ") || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: %v; want an invalid comment, mentioning %s", tt.in, err, tt.msg)
		}
	}
}

func TestUnsafeRune(t *testing.T) {
	for _, r := range []rune{'\x1b', '\n', 0x85, 0x202e, 0x2028, 0x200b, 0x200d, 0xad, 0xfeff, 0xe0041, 0xe007f, 0x3164, 0x2800, 0x115f, 0xffa0} {
		if !shipgate.UnsafeRune(r) {
			t.Errorf("%U is not unsafe", r)
		}
	}
	// Variation selectors depend on what they follow: ValidateLine and
	// EscapeText judge them; alone they are not unsafe.
	for _, r := range []rune{'a', 'é', '日', '✓', 0x1f44d, 0x1f3fd, 0xfe0f, 0xe0100, ' ', 0xa0, 0x3000, 0xfffd} {
		if shipgate.UnsafeRune(r) {
			t.Errorf("%U is unsafe", r)
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
		{"refs/\u200bmain\u2060\ufeff\u00ad\u3164", "", `refs/\u200bmain\u2060\ufeff\u00ad\u3164`},
		{"abc\U000E0041\U000E0042", "", `abc\udb40\udc41\udb40\udc42`},
		{"\u017fhipgate.local ❤️ 1️⃣ 葛\U000E0100", "", "\u017fhipgate.local ❤️ 1️⃣ 葛\U000E0100"},
		{"\ufe0fa\ufe0f\ufe0f\n\ufe0f", "\n", `\ufe0fa\ufe0f\ufe0f` + "\n" + `\ufe0f`},
		{"\u2764\ufe0f\ufe0f", "", "\u2764\ufe0f" + `\ufe0f`},
		{"\u200b\ufe0f", "", `\u200b\ufe0f`},
	} {
		if got := shipgate.EscapeText(tt.in, tt.keep); got != tt.want {
			t.Errorf("EscapeText(%q, %q) = %q; want %q", tt.in, tt.keep, got, tt.want)
		}
	}
	// JSON passed through keeps its meaning: the escapes of non-ASCII
	// controls are JSON escapes of the same characters.
	in := map[string]string{"v": "x\u202ey\u0085z\u2028\u200b\U000E0041\ufe0f\ufe0f"}
	b, _ := json.Marshal(in)
	var out map[string]string
	if err := json.Unmarshal([]byte(shipgate.EscapeText(string(b), "\n\t")), &out); err != nil || out["v"] != in["v"] {
		t.Fatalf("escaped JSON decodes to %q, %v; want %q", out["v"], err, in["v"])
	}
}
