package runner

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

// A line the step has finished is shipped at once, however long the
// secrets are: only a tail that could be the start of a secret is held
// back. (It used to hold back as many bytes as the longest secret, so a
// short last line — "waiting for the database…" — stayed invisible in the
// live log until the step printed more.)
func TestOnlyAPossibleSecretStartIsHeldBack(t *testing.T) {
	for _, tt := range []struct {
		writes   []string
		shipped  string // queued right after the writes, before any flush
		leaksNot string
	}{
		{[]string{"waiting for the gate\n"}, "waiting for the gate\n", ""},
		{[]string{"ok\n", "pw=hunter2-v"}, "ok\n", "hunter2"},
		{[]string{"one\ntwo"}, "one\n", ""},
		{[]string{"token hunter2-very-secret done\n"}, "token *** done\n", "hunter2"},
	} {
		s := newShipper(context.Background(), &collect{}, "r", shipgate.AttemptKey{}, []string{"hunter2-very-secret"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		w := s.writer("stdout")
		for _, p := range tt.writes {
			w.Write([]byte(p))
		}
		s.mu.Lock()
		var got strings.Builder
		for _, c := range s.pending {
			got.WriteString(c.Data)
		}
		s.mu.Unlock()
		if got.String() != tt.shipped {
			t.Errorf("writes %q queued %q, want %q", tt.writes, got.String(), tt.shipped)
		}
		if tt.leaksNot != "" && strings.Contains(got.String(), tt.leaksNot) {
			t.Errorf("writes %q queued part of the secret: %q", tt.writes, got.String())
		}
	}
}
