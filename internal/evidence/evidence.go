package evidence

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
)

// The evidence types. Anything that is none of the parsed ones is attached
// as TypeFile and stored without a summary.
const (
	TypeSBOM      = "sbom"
	TypeSignature = "signature"
	TypeCoverage  = "coverage"
	TypeScan      = "scan"
	TypeTests     = "tests"
	TypeLink      = "link"
	TypeFile      = "file"
)

// Types lists every type, in the order help text shows them.
var Types = shipgate.EvidenceTypes

// DefaultMaxBytes bounds one evidence file: SBOMs and SARIF reports of
// large projects run to a few MiB; 32 MiB leaves room without letting one
// upload fill the database.
const DefaultMaxBytes = 32 << 20

// MaxNameLen bounds an evidence item's name.
const MaxNameLen = 200

// KnownType reports whether t is one of Types.
func KnownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// CheckType refuses an unknown type with the list of known ones: a typo
// (--type coverge) would otherwise be stored unparsed and never count.
func CheckType(t string) error {
	if !KnownType(t) {
		return shipgate.Errorf(shipgate.EINVALID, "unknown evidence type %q: use one of %s (file for anything else)", t, strings.Join(Types, ", "))
	}
	return nil
}

// CheckName refuses names that are empty, too long, or not plain text.
func CheckName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return shipgate.Errorf(shipgate.EINVALID, "evidence name is empty")
	case len(name) > MaxNameLen:
		return shipgate.Errorf(shipgate.EINVALID, "evidence name is %d bytes; at most %d", len(name), MaxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return shipgate.Errorf(shipgate.EINVALID, "evidence name %q has control characters", name)
	}
	return nil
}

// Parse reads the bytes of one file of type typ (not signature, see
// SignatureVerifier, nor link, see ParseLink) and returns its summary: nil
// for TypeFile. A malformed file is refused with an invalid error naming
// name and, where the format has lines, the line.
func Parse(typ, name string, data []byte) (map[string]any, error) {
	var (
		sum map[string]any
		err error
	)
	switch typ {
	case TypeFile:
		return nil, nil
	case TypeSBOM:
		sum, err = parseSBOM(data)
	case TypeCoverage:
		sum, err = parseCoverage(data)
	case TypeScan:
		sum, err = parseSARIF(data)
	case TypeTests:
		sum, err = parseJUnit(data)
	default:
		return nil, shipgate.Errorf(shipgate.EINVALID, "evidence type %q is not parsed from a file", typ)
	}
	if err != nil {
		return nil, shipgate.Errorf(shipgate.EINVALID, "%s is not a valid %s file: %s", name, typ, err.Error())
	}
	return sum, nil
}

// lineErr is an error at a line of the input.
func lineErr(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// Summaries are stored with the item and in its audit event, so what a
// file can put in one is bounded: at most MaxListed strings in a list, each
// at most MaxText bytes.
const (
	MaxListed = 100
	MaxText   = 200
)

// sortedKeys returns the keys of a set, sorted and bounded (see
// MaxListed), as []any for JSON summaries (policies compare them as a
// list); truncated says some were left out.
func sortedKeys(set map[string]bool) (keys []any, truncated bool) {
	all := make([]string, 0, len(set))
	for k := range set {
		all = append(all, clipText(k))
	}
	sort.Strings(all)
	all = slices.Compact(all)
	if len(all) > MaxListed {
		all, truncated = all[:MaxListed], true
	}
	out := make([]any, len(all))
	for i, k := range all {
		out[i] = k
	}
	return out, truncated
}

// clipText bounds a string taken from a file to MaxText bytes of valid
// UTF-8.
func clipText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxText {
		return s
	}
	n := MaxText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// round2 rounds a percentage to two decimals, so a summary reads as the
// tools that wrote it print it.
func round2(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}
