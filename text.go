package shipgate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text that people give shipgate ends up in terminals, chat messages and
// command lines. The rules here are the one place that decides what such
// text may contain; the API, the store and the runner all ask them.

// MaxVersionLen bounds a release version.
const MaxVersionLen = 128

// ValidateVersion checks a release version: 1–128 letters, digits, '.',
// '_', '+' and '-', starting with a letter or digit. Such a version is the
// same in a terminal, a chat message, a file name and a URL, and placed
// alone in an argv it is never read as an option.
func ValidateVersion(v string) error {
	if v == "" {
		return Errorf(EINVALID, "a release needs a version")
	}
	if len(v) > MaxVersionLen {
		return Errorf(EINVALID, "version %s is longer than %d characters", QuoteText(v[:32]+"…"), MaxVersionLen)
	}
	for i, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '.' || r == '_' || r == '+' || r == '-':
			if i == 0 {
				return Errorf(EINVALID, "version %s is not valid: it must start with a letter or digit", QuoteText(v))
			}
		default:
			return Errorf(EINVALID, "version %s is not valid: use 1-%d letters, digits, '.', '_', '+' or '-' (found %s)", QuoteText(v), MaxVersionLen, QuoteText(string(r)))
		}
	}
	return nil
}

// ValidateLine checks one line of free text — a reason, a comment, a ref, a
// label value, a host name: valid UTF-8, at most max bytes, and no
// character that changes how text is shown rather than what it says (see
// UnsafeRune), which includes tabs and line breaks. what names the field in
// the error.
func ValidateLine(what, s string, max int) error {
	if len(s) > max {
		return Errorf(EINVALID, "%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if UnsafeRune(r) {
			return Errorf(EINVALID, "%s contains the control character %s; it must be one line of printable text", what, QuoteText(string(r)))
		}
	}
	return nil
}

// UnsafeRune reports whether r changes how text is shown rather than what
// it says: the C0 controls (ESC starts terminal escape sequences, CR
// overwrites a line, and so on, tab and newline included), DEL, the C1
// controls (U+0080–U+009F, which some terminals obey like ESC sequences),
// the Unicode line and paragraph separators, and the bidirectional
// formatting characters that reorder what is displayed (U+061C, U+200E,
// U+200F, U+202A–U+202E, U+2066–U+2069). Bytes that are not UTF-8 are
// not runes at all; ValidateLine refuses them and EscapeText escapes them.
func UnsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// EscapeText returns s with every unsafe rune written as a Go escape — ESC
// as \x1b, U+202E as \u202e, a byte that is not UTF-8 as \xff — except the
// runes listed in keep (a printer of multi-line text keeps "\n\t"). The
// escapes of non-ASCII runes use the \uXXXX form, which means the same
// character inside a JSON string, so JSON passed through stays valid and
// unchanged in meaning.
func EscapeText(s, keep string) string {
	if !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !UnsafeRune(r) || strings.ContainsRune(keep, r):
			b.WriteString(s[i : i+size])
		default:
			b.WriteString(escapeRune(r))
		}
		i += size
	}
	return b.String()
}

func needsEscape(s, keep string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || UnsafeRune(r) && !strings.ContainsRune(keep, r) {
			return true
		}
		i += size
	}
	return false
}

func escapeRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x80 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// QuoteText quotes s for an error message or a log line: in double quotes,
// with every unsafe rune escaped, so the message itself is safe to print.
func QuoteText(s string) string {
	return `"` + EscapeText(s, "") + `"`
}
