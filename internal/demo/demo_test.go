package demo

import (
	"strings"
	"testing"
)

// The demo's server serves the web UI too; when the demo has played, it
// says where, with the token to log in with and the pages that show the
// rollback and the aborted canary (a newcomer following the README's
// "see it" step otherwise never learns the UI is there).
func TestExploreNamesTheWebUI(t *testing.T) {
	var b strings.Builder
	explore(&b, "http://127.0.0.1:4000", "sgp_tok", 2, 5000, 5, "http://127.0.0.1:6000/")
	for _, want := range []string{
		"export SHIPGATE_SERVER=http://127.0.0.1:4000 SHIPGATE_TOKEN=sgp_tok",
		"open http://127.0.0.1:4000/ and log in with the token sgp_tok",
		"http://127.0.0.1:4000/releases/2 ",
		"http://127.0.0.1:4000/releases/5/rollout ",
		"Press Ctrl-C to stop it.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the closing words lack %q:\n%s", want, b.String())
		}
	}
}
