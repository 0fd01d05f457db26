package evidence

import (
	"fmt"
	"strings"
)

// Describe is one line saying what an item's summary holds, as the CLI
// and the release page show it.
func Describe(typ string, s map[string]any) string {
	if s == nil {
		return ""
	}
	num := func(k string) string { return fmt.Sprint(s[k]) }
	switch typ {
	case TypeCoverage:
		return fmt.Sprintf("line coverage %s%% (%s)", num("line_percent"), num("format"))
	case TypeScan:
		return fmt.Sprintf("critical %s, high %s, medium %s, low %s (%s findings)", num("critical"), num("high"), num("medium"), num("low"), num("total"))
	case TypeTests:
		return fmt.Sprintf("%s passed, %s failed, %s skipped", num("passed"), num("failed"), num("skipped"))
	case TypeSBOM:
		if d, ok := s["description"].(string); ok {
			return d
		}
	case TypeSignature:
		line := "verified for sha256:" + num("subject_sha256")
		if k, ok := s["key_id"].(string); ok {
			line += " with key " + k
		}
		if id, ok := s["identity"].(string); ok {
			line += " signed by " + id
		}
		return line
	case TypeLink:
		return num("url")
	}
	parts := make([]string, 0, len(s))
	for k, v := range s {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	return strings.Join(parts, " ")
}
