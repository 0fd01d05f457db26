package shipgate

import (
	"testing"
	"time"
)

func TestAttentionDue(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	pol := &NotifyPolicy{RenotifyAfter: Duration(30 * time.Minute), MaxRenotify: 2, EscalateAfter: Duration(2 * time.Hour), EscalateTo: []string{"pd"}}
	for _, c := range []struct {
		name   string
		a      Attention
		acted  time.Duration
		now    time.Duration
		action string
		next   time.Duration // -1: never
	}{
		{"fresh", Attention{OpenedAt: t0}, 0, time.Minute, "", 30 * time.Minute},
		{"first reminder", Attention{OpenedAt: t0}, 0, 30 * time.Minute, ActionAttentionReminded, 0},
		{"second after the first", Attention{OpenedAt: t0, Reminders: 1, LastNoticeAt: at(31 * time.Minute)}, 0, 40 * time.Minute, "", 61 * time.Minute},
		{"reminders used up", Attention{OpenedAt: t0, Reminders: 2, LastNoticeAt: at(time.Hour)}, 0, 90 * time.Minute, "", 2 * time.Hour},
		{"escalation", Attention{OpenedAt: t0, Reminders: 2, LastNoticeAt: at(time.Hour)}, 0, 2 * time.Hour, ActionAttentionEscalated, 0},
		{"escalation first when both are due", Attention{OpenedAt: t0, Reminders: 1, LastNoticeAt: at(30 * time.Minute)}, 0, 5 * time.Hour, ActionAttentionEscalated, 0},
		{"all done", Attention{OpenedAt: t0, Reminders: 2, EscalatedAt: at(2 * time.Hour)}, 0, 9 * time.Hour, "", -1},
		{"an approval restarts the clocks", Attention{OpenedAt: t0}, 20 * time.Minute, 40 * time.Minute, "", 50 * time.Minute},
	} {
		action, next := c.a.Due(pol, t0.Add(c.acted), t0.Add(c.now))
		want := time.Time{}
		if c.next > 0 {
			want = t0.Add(c.next)
		}
		if action != c.action || (c.action == "" && !next.Equal(want)) {
			t.Errorf("%s: %q %v, want %q %v", c.name, action, next, c.action, want)
		}
	}
	if (&NotifyPolicy{RenotifyAfter: Duration(time.Hour)}).Reminders() != DefaultMaxRenotify || (*NotifyPolicy)(nil).Timed() {
		t.Error("defaults")
	}
}
