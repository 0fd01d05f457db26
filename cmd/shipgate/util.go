package main

import (
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shipgate/shipgate"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// summarize renders audit details as k=v pairs on one line.
func summarize(details json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(details, &m) != nil {
		return string(details)
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		v := m[k]
		if v == nil || v == "" {
			continue
		}
		var s string
		switch x := v.(type) {
		case string:
			// One line, whatever the event recorded: control characters
			// escaped, and quoted when it has spaces.
			s = shipgate.EscapeText(x, "")
			if strings.Contains(s, " ") {
				s = `"` + s + `"`
			}
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		parts = append(parts, shipgate.EscapeText(k, "")+"="+s)
	}
	return strings.Join(parts, " ")
}

// absArtifact turns a relative artifact path into an absolute one: the
// server resolves paths on its own host, where the CLI's working directory
// means nothing.
func absArtifact(loc string) string {
	if u, err := url.Parse(loc); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return loc
	}
	if abs, err := filepath.Abs(loc); err == nil {
		return abs
	}
	return loc
}

func joinRoles(roles []shipgate.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return joinOrNone(s)
}

func joinOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func asErr(err error, target **shipgate.Error) bool { return errors.As(err, target) }
