package shipgate

import "testing"

// The subjects are in existing audit chains: their spelling is fixed.
func TestAuditSubjects(t *testing.T) {
	for got, want := range map[string]string{
		ReleaseSubject(12):    "release/12",
		ServiceSubject("web"): "service/web",
		UserSubject("alice"):  "user/alice",
		GroupSubject("ops"):   "group/ops",
		AgentSubject("web-1"): "agent/web-1",
		AgentTokenSubject(7):  "agent-token/7",
	} {
		if got != want {
			t.Errorf("subject %q, want %q", got, want)
		}
	}
	for _, c := range []struct {
		subject string
		id      int64
		ok      bool
	}{
		{"release/12", 12, true},
		{ReleaseSubject(9007199254740993), 9007199254740993, true},
		{"release/", 0, false},
		{"release/12/run/1", 0, false},
		{"release/x", 0, false},
		{"release/99999999999999999999", 0, false},
		{"service/web", 0, false},
		{"api", 0, false},
	} {
		if id, ok := ReleaseIDOf(c.subject); id != c.id || ok != c.ok {
			t.Errorf("ReleaseIDOf(%q) = %d, %v; want %d, %v", c.subject, id, ok, c.id, c.ok)
		}
	}
}
