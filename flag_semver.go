package shipgate

import (
	"errors"
	"strconv"
	"strings"
)

// Semver is a parsed semantic version (semver.org 2.0). Build metadata is
// kept out: it takes no part in precedence.
type Semver struct {
	Major, Minor, Patch uint64
	// Pre holds the dot-separated pre-release identifiers ("rc.1" → rc, 1).
	Pre []string
}

// maxSemverLen bounds a version string; real ones are far shorter.
const maxSemverLen = 256

// ParseSemver parses MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], with an
// optional leading "v" as git tags often have. Partial versions ("1.2")
// are refused: a comparison with them would be ambiguous.
func ParseSemver(s string) (Semver, error) {
	var v Semver
	if len(s) > maxSemverLen {
		return v, errors.New("longer than 256 characters")
	}
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if !semverIdents(s[i+1:], false) {
			return v, errors.New("bad build metadata after '+'")
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		pre := s[i+1:]
		if !semverIdents(pre, true) {
			return v, errors.New("bad pre-release after '-'")
		}
		v.Pre = strings.Split(pre, ".")
		s = s[:i]
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i := range nums {
		part := s
		if j := strings.IndexByte(s, '.'); j >= 0 && i < 2 {
			part, s = s[:j], s[j+1:]
		} else if i < 2 {
			return Semver{}, errors.New("want MAJOR.MINOR.PATCH, such as 1.4.2")
		} else {
			s = ""
		}
		if !numericIdent(part) {
			if strings.IndexByte(part, '.') >= 0 {
				return Semver{}, errors.New("want MAJOR.MINOR.PATCH, such as 1.4.2")
			}
			return Semver{}, errors.New("MAJOR, MINOR and PATCH must be numbers without leading zeros")
		}
		n, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return Semver{}, errors.New("a version number is too large")
		}
		*nums[i] = n
	}
	return v, nil
}

func numericIdent(p string) bool {
	if p == "" || (len(p) > 1 && p[0] == '0') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// semverIdents checks dot-separated identifiers of [0-9A-Za-z-]; numeric
// pre-release identifiers may not have leading zeros.
func semverIdents(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if pre && digits && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than
// w in semver precedence: a pre-release is lower than its release;
// numeric identifiers compare as numbers and below alphanumeric ones.
func (v Semver) Compare(w Semver) int {
	for _, d := range [3][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		if c := comparePreIdent(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.Pre) < len(w.Pre):
		return -1
	case len(v.Pre) > len(w.Pre):
		return 1
	}
	return 0
}

func comparePreIdent(a, b string) int {
	an, bn := numericIdent(a), numericIdent(b)
	switch {
	case an && bn:
		if len(a) != len(b) { // no leading zeros: longer is larger
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}
