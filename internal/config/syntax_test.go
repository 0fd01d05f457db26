package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/config"
)

// TestSyntaxErrorLines: a YAML syntax error is reported at the line where
// it is, not where the enclosing block begins. Each case edits one line of
// the valid file (lines counted by hand: line 1 is "apiVersion", line 14
// "expires_after", line 29 the deploy step's run).
func TestSyntaxErrorLines(t *testing.T) {
	lines := strings.Split(valid, "\n")
	edit := func(line int, text string) string {
		l := append([]string(nil), lines...)
		l[line-1] = text
		return strings.Join(l, "\n")
	}
	insert := func(line int, text string) string {
		l := append([]string(nil), lines[:line-1]...)
		l = append(l, text)
		l = append(l, lines[line-1:]...)
		return strings.Join(l, "\n")
	}
	for _, c := range []struct {
		name string
		src  string
		line int
		msg  string
	}{
		{"key indented less than its siblings", edit(14, "       expires_after: 24h"), 14, "not valid YAML"},
		{"key indented more than its siblings", edit(14, "          expires_after: 24h"), 14, "not valid YAML"},
		{"sequence item out of line", edit(9, "   - name: production"), 9, "not valid YAML"},
		{"tab indentation", edit(14, "\t\texpires_after: 24h"), 14, "not valid YAML"},
		{"tab in a nested block", edit(27, "\t\tretries: 1"), 27, "not valid YAML"},
		{"unclosed double quote", edit(29, `          - run: "./deploy.sh $SHIPGATE_ARTIFACT_PATH`), 29, "not valid YAML"},
		{"unclosed single quote", edit(4, "  name: 'checkout"), 4, "not valid YAML"},
		{"unclosed flow list", edit(10, "      requires: [staging"), 10, "not valid YAML"},
		{"unclosed flow mapping", edit(8, "      approvals: { required: 0"), 8, "not valid YAML"},
		{"value after a value", edit(26, "        timeout: 10m: 5m"), 26, "not valid YAML"},
		{"duplicate key", insert(27, "        timeout: 5m"), 27, `key "timeout" appears twice in job`},
		// Closed multi-line constructs before the error are not blamed.
		{"after a multi-line list and string", strings.Replace(edit(14, "       expires_after: 24h"), "requires: [staging]", "requires: [\n        staging]\n      description: \"a\n        b\"", 1), 17, "did not find expected key"},
		{"unclosed quote names where it opened", edit(29, `          - run: "./deploy.sh $SHIPGATE_ARTIFACT_PATH`), 29, "at line 33, inside what begins on this line: is a quote or bracket left open?"},
		{"first line", "apiVersion: shipgate/v1\n\tkind: Service\n", 2, "not valid YAML"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.ParseService("svc.yaml", []byte(c.src))
			var cerr *config.Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("want a config error, got %v", err)
			}
			p := cerr.Problems[0]
			if p.Line != c.line || !strings.Contains(p.Message, c.msg) {
				t.Errorf("got %s, want line %d with %q", p, c.line, c.msg)
			}
		})
	}
}
