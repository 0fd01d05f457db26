package shipgate

import (
	"fmt"
	"strconv"
	"strings"
)

// PathStep is one step of a JSON path: an object key or an array index.
type PathStep struct {
	Key   string
	Index int
	IsKey bool
}

// ParseJSONPath parses the small path language health checks and HTTP
// metrics use: dot-separated keys with [n] indexes, optionally starting
// with "$." — "status", "$.checks[0].state"; "$" alone is the whole
// document (no steps).
func ParseJSONPath(p string) ([]PathStep, error) {
	if strings.TrimSpace(p) == "$" {
		return nil, nil
	}
	p = strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".")
	if p == "" {
		return nil, fmt.Errorf("json_path is empty")
	}
	var steps []PathStep
	for _, part := range strings.Split(p, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			steps = append(steps, PathStep{Key: key, IsKey: true})
		} else if rest == "" {
			return nil, fmt.Errorf("json_path %q has an empty key", p)
		}
		for rest != "" {
			num, after, ok := strings.Cut(rest, "]")
			n, err := strconv.Atoi(num)
			if !ok || err != nil || n < 0 {
				return nil, fmt.Errorf("json_path %q has a bad index [%s", p, rest)
			}
			steps = append(steps, PathStep{Index: n})
			rest = strings.TrimPrefix(after, "[")
			if after != "" && !strings.HasPrefix(after, "[") {
				return nil, fmt.Errorf("json_path %q: unexpected %q after an index", p, after)
			}
		}
	}
	return steps, nil
}

// Lookup follows steps into a decoded JSON value.
func Lookup(v any, steps []PathStep) (any, bool) {
	for _, s := range steps {
		if s.IsKey {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.Key]; !ok {
				return nil, false
			}
			continue
		}
		a, ok := v.([]any)
		if !ok || s.Index >= len(a) {
			return nil, false
		}
		v = a[s.Index]
	}
	return v, true
}
