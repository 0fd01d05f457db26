package runner

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
)

// collect is a Coordinator that keeps shipped chunks; masking is the
// runner's own logic, so a stand-in for the server is enough here.
type collect struct{ data strings.Builder }

func (c *collect) Claim(context.Context, shipgate.ClaimRequest) (*shipgate.Assignment, bool, error) {
	return nil, false, nil
}
func (c *collect) Held(context.Context, string) ([]shipgate.HeldAttempt, error) { return nil, nil }
func (c *collect) Probes(context.Context, string, shipgate.AttemptKey, []shipgate.ProbeResult, bool) (shipgate.ProbeReply, error) {
	return shipgate.ProbeReply{}, nil
}
func (c *collect) Rollout(context.Context, string, shipgate.AttemptKey, shipgate.RolloutStatus) (shipgate.RolloutReply, error) {
	return shipgate.RolloutReply{PromotedThrough: -1}, nil
}
func (c *collect) Artifact(context.Context, string, shipgate.AttemptKey) (io.ReadCloser, error) {
	return nil, io.EOF
}
func (c *collect) Heartbeat(context.Context, string, shipgate.AttemptKey) (shipgate.HeartbeatReply, error) {
	return shipgate.HeartbeatReply{}, nil
}
func (c *collect) Finish(context.Context, string, shipgate.AttemptKey, shipgate.JobOutcome) error {
	return nil
}
func (c *collect) AppendLogs(_ context.Context, _ string, _ shipgate.AttemptKey, chunks []shipgate.LogChunk) error {
	for _, ch := range chunks {
		c.data.WriteString(ch.Data)
	}
	return nil
}

// shipWrites pushes writes through a line writer and returns what was
// shipped.
func shipWrites(secrets []string, writes ...string) string {
	c := &collect{}
	s := newShipper(context.Background(), c, "r", shipgate.AttemptKey{}, secrets, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go s.run()
	w := s.writer("stdout")
	for _, p := range writes {
		w.Write([]byte(p))
	}
	w.flush()
	s.close()
	s.wait(context.Background())
	return c.data.String()
}

func TestMasking(t *testing.T) {
	pem := "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASCAT\nkwggE9AgEAAkEAq7BFUpkGp3+LQmlQ\n-----END KEY-----"
	long := strings.Repeat("x", maxLineBuffer-5)
	tests := []struct {
		name    string
		secrets []string
		writes  []string
		leaks   []string
		want    string
	}{
		{"plain", []string{"hunter2"}, []string{"pw=hunter2\n"}, []string{"hunter2"}, "pw=***\n"},
		{"split across writes", []string{"hunter2"}, []string{"pw=hun", "ter2 ok\n"}, []string{"hun"}, "pw=*** ok\n"},
		{"multi-line secret whole", []string{pem}, []string{"key:\n" + pem + "\ndone\n"}, []string{"MIIBVw", "kwggE9"}, "key:\n***\ndone\n"},
		{"multi-line secret line by line", []string{pem}, []string{"MIIBVwIBADANBgkqhkiG9w0BAQEFAASCAT\n", "kwggE9AgEAAkEAq7BFUpkGp3+LQmlQ\n"}, []string{"MIIBVw", "kwggE9"}, "***\n***\n"},
		{"straddles the partial-line cut", []string{"s3cr3t-value"}, []string{long, "s3cr3t", "-value and more\n"}, []string{"s3cr3t"}, long + "*** and more\n"},
		{"nested secrets, longest first", []string{"abc", "abcdef"}, []string{"abcdef\n"}, []string{"def"}, "***\n"},
		{"no trailing newline", []string{"tok"}, []string{"the tok"}, []string{"tok"}, "the ***\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shipWrites(tt.secrets, tt.writes...)
			for _, l := range tt.leaks {
				if strings.Contains(got, l) {
					t.Errorf("output contains %q:\n%s", l, got)
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// flaky loses the answer of its first AppendLogs call after storing it.
type flaky struct {
	collect
	stored map[int64]string
	calls  int
}

func (f *flaky) AppendLogs(_ context.Context, _ string, _ shipgate.AttemptKey, chunks []shipgate.LogChunk) error {
	f.calls++
	for _, c := range chunks {
		if _, dup := f.stored[c.Seq]; !dup { // the server ignores repeated seqs
			f.stored[c.Seq] = c.Data
		}
	}
	if f.calls == 1 {
		return io.ErrUnexpectedEOF // stored, but the answer was lost
	}
	return nil
}

func TestShipperNeverChangesASentChunk(t *testing.T) {
	f := &flaky{stored: map[int64]string{}}
	s := newShipper(context.Background(), f, "r", shipgate.AttemptKey{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.add("stdout", "line 1\n")
	s.add("stdout", "line 2\n")
	go s.run()
	// Let the first (lost) send happen, then add more output.
	for {
		s.mu.Lock()
		sent := s.sent
		s.mu.Unlock()
		if sent > 0 {
			break
		}
	}
	s.add("stdout", "line 3\n")
	s.close()
	s.wait(context.Background())
	var all strings.Builder
	for i := int64(1); i <= int64(len(f.stored)); i++ {
		all.WriteString(f.stored[i])
	}
	if all.String() != "line 1\nline 2\nline 3\n" {
		t.Fatalf("server has %q", all.String())
	}
}
