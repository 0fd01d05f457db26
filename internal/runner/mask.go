package runner

import (
	"sort"
	"strings"
)

// masker replaces secret values in output with ***. Longer secrets are
// replaced first, so a secret that contains another is never half-shown,
// and each line of a multi-line secret (a PEM key, a kubeconfig) is also a
// secret of its own, for tools that print them one line at a time.
type masker struct {
	secrets []string
}

// minLineSecret is the shortest line of a multi-line secret masked on its
// own; shorter lines ("}", "---") carry no secret and would blank the log.
const minLineSecret = 4

func newMasker(values []string) *masker {
	seen := map[string]bool{}
	m := &masker{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			m.secrets = append(m.secrets, s)
		}
	}
	for _, v := range values {
		add(v)
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if line = strings.TrimSpace(line); len(line) >= minLineSecret {
					add(line)
				}
			}
		}
	}
	sort.SliceStable(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	return m
}

func (m *masker) mask(text string) string {
	for _, v := range m.secrets {
		text = strings.ReplaceAll(text, v, "***")
	}
	return text
}

// holdback is how many trailing bytes of text (already masked) must be
// kept back because a secret may be continuing in the next write: the
// longest tail that is the start of a secret. Anything else is shipped
// now, so a step's last line shows in the live log while the step runs.
func (m *masker) holdback(text string) int {
	n := 0
	for _, v := range m.secrets {
		// Tails from the longest that could matter, checked only where
		// the secret's first byte is: a PEM key must not cost a scan of
		// its length squared on every write.
		for i := len(text) - min(len(v)-1, len(text)); i < len(text)-n; i++ {
			if text[i] == v[0] && strings.HasPrefix(v, text[i:]) {
				n = len(text) - i
				break
			}
		}
	}
	return n
}
