package shipgate

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
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
// character that changes how text is shown rather than what it says or
// that shows as nothing (see UnsafeRune), which includes tabs and line
// breaks; a variation selector only right after the character it varies.
// what names the field in the error.
func ValidateLine(what, s string, max int) error {
	if len(s) > max {
		return Errorf(EINVALID, "%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8", what)
	}
	prev := rune(-1)
	for _, r := range s {
		switch {
		case controlRune(r):
			return Errorf(EINVALID, "%s contains the control character %s; it must be one line of printable text", what, QuoteText(string(r)))
		case invisibleRune(r):
			return Errorf(EINVALID, "%s contains the invisible character %s; it must be one line of printable text, without characters that show as nothing", what, QuoteText(string(r)))
		case strayVariation(prev, r):
			return Errorf(EINVALID, "%s contains the variation selector %s where it varies no character (only one, right after a character it has variants for: an emoji or symbol, a keycap digit, an ideograph)", what, QuoteText(string(r)))
		}
		prev = r
	}
	return nil
}

// UnsafeRune reports whether r changes how text is shown rather than what
// it says, or shows as nothing so that two different texts look the same:
//
//   - the C0 controls (ESC starts terminal escape sequences, CR overwrites
//     a line, and so on, tab and newline included), DEL, the C1 controls
//     (U+0080–U+009F, which some terminals obey like ESC sequences), and
//     the Unicode line and paragraph separators;
//   - the format characters (Unicode category Cf): the bidirectional
//     controls that reorder what is displayed (U+202E and its kin), zero
//     width spaces and joiners (U+200B–U+200D, U+2060), the soft hyphen,
//     the byte order mark, the tag characters U+E0000–U+E007F and others;
//   - the characters that are not Cf but show as nothing or as a blank:
//     the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), the combining
//     grapheme joiner U+034F, the Khmer inherent vowels U+17B4 and U+17B5,
//     the braille blank U+2800, and the unassigned rest of U+E0000–U+E0FFF.
//
// Variation selectors are not unsafe alone — ❤️ is U+2764 U+FE0F — but a
// run of them, or one that follows no visible character, is data nobody
// sees: ValidateLine refuses and EscapeText escapes those. Bytes that are
// not UTF-8 are not runes at all; ValidateLine refuses them and EscapeText
// escapes them.
func UnsafeRune(r rune) bool { return controlRune(r) || invisibleRune(r) }

// controlRune reports the characters of UnsafeRune's first item and the
// bidirectional controls: those that steer a terminal or a line.
func controlRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// invisibleRune reports the other characters UnsafeRune names: those
// that show as nothing.
func invisibleRune(r rune) bool {
	switch {
	case r < 0xad:
		return false // fast path: ASCII and Latin-1 letters
	case r == 0x034f, r == 0x115f, r == 0x1160, r == 0x17b4, r == 0x17b5,
		r == 0x2800, r == 0x3164, r == 0xffa0:
		return true
	case r >= 0xe0000 && r <= 0xe0fff:
		return !variationSelector(r) // tags, and unassigned code points Unicode keeps invisible
	case variationSelector(r):
		return false // judged by what they follow: strayVariation
	}
	// Format characters; the other default-ignorable code points (U+2065
	// and the like, shown as nothing); and whatever is not a graphic
	// character — unassigned code points, noncharacters such as U+FFFE,
	// private use — which a terminal shows as nothing or as a box.
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || !unicode.IsGraphic(r)
}

// variationSelector reports whether r selects a variant of the character
// before it: U+FE00–U+FE0F, U+E0100–U+E01EF and the Mongolian free
// variation selectors.
func variationSelector(r rune) bool {
	return r >= 0xfe00 && r <= 0xfe0f || r >= 0xe0100 && r <= 0xe01ef ||
		r >= 0x180b && r <= 0x180d || r == 0x180f
}

// strayVariation reports whether r is a variation selector that varies no
// character: the first rune (prev < 0), after another selector or an
// unsafe rune, or after a character of a kind it has no variants for.
// Emoji and text presentation (U+FE0E, U+FE0F) vary symbols and the keycap
// bases 0–9, # and *; the other standardized selectors (U+FE00–U+FE0D)
// vary symbols, CJK ideographs and Myanmar letters; the ideographic ones
// (U+E0100–U+E01EF) ideographs; the Mongolian ones Mongolian letters. A
// selector after "/" or a letter a would show as nothing.
func strayVariation(prev, r rune) bool {
	if !variationSelector(r) {
		return false
	}
	if prev < 0 || variationSelector(prev) || UnsafeRune(prev) {
		return true
	}
	switch {
	case r == 0xfe0e || r == 0xfe0f:
		return !unicode.IsSymbol(prev) && !(prev >= '0' && prev <= '9' || prev == '#' || prev == '*')
	case r >= 0xfe00 && r <= 0xfe0d:
		return !unicode.IsSymbol(prev) && !unicode.Is(unicode.Han, prev) && !unicode.Is(unicode.Myanmar, prev)
	case r >= 0xe0100:
		return !unicode.Is(unicode.Han, prev)
	}
	return !unicode.Is(unicode.Mongolian, prev)
}

// EscapeText returns s with every unsafe rune — and every variation
// selector that varies no character — written as a Go escape: ESC
// as \x1b, U+202E as \u202e, a byte that is not UTF-8 as \xff; the runes
// listed in keep (a printer of multi-line text keeps "\n\t") stay. The
// escapes of non-ASCII runes use the \u-and-four-hex-digits form (a UTF-16 surrogate pair
// above U+FFFF, as in JSON), which means the same character inside a JSON
// string, so JSON passed through stays valid and unchanged in meaning.
func EscapeText(s, keep string) string {
	if !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
			r = -1
		case strings.ContainsRune(keep, r) || !UnsafeRune(r) && !strayVariation(prev, r):
			b.WriteString(s[i : i+size])
		default:
			b.WriteString(escapeRune(r))
		}
		prev = r
		i += size
	}
	return b.String()
}

func needsEscape(s, keep string) bool {
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || (UnsafeRune(r) || strayVariation(prev, r)) && !strings.ContainsRune(keep, r) {
			return true
		}
		prev = r
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
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		return fmt.Sprintf(`\u%04x\u%04x`, hi, lo)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// QuoteText quotes s for an error message or a log line: in double quotes,
// with every unsafe rune escaped, so the message itself is safe to print.
func QuoteText(s string) string {
	return `"` + EscapeText(s, "") + `"`
}
