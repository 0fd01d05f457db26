package shipgate_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func TestWindowState(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	weekday := []shipgate.Window{{Days: []string{"mon", "tue", "wed", "thu"}, Start: "09:00", End: "16:00", Timezone: "Europe/Berlin"}}
	overnight := []shipgate.Window{{Start: "22:00", End: "02:00", Timezone: "UTC"}}
	tests := []struct {
		name    string
		windows []shipgate.Window
		at      time.Time
		open    bool
		until   time.Time
	}{
		{"no windows is always open", nil, time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC), true, time.Time{}},
		{"inside, Berlin winter", weekday, time.Date(2026, 3, 2, 9, 30, 0, 0, berlin), true, time.Date(2026, 3, 2, 16, 0, 0, 0, berlin)},
		{"before opening", weekday, time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), false, time.Date(2026, 3, 2, 9, 0, 0, 0, berlin)},
		{"Thursday evening waits for Monday", weekday, time.Date(2026, 3, 5, 16, 0, 0, 0, berlin), false, time.Date(2026, 3, 9, 9, 0, 0, 0, berlin)},
		{"Friday waits for Monday", weekday, time.Date(2026, 3, 6, 12, 0, 0, 0, berlin), false, time.Date(2026, 3, 9, 9, 0, 0, 0, berlin)},
		// 29 March 2026: clocks go forward in Berlin; 09:00 local is 07:00 UTC.
		{"after DST change", weekday, time.Date(2026, 3, 30, 7, 30, 0, 0, time.UTC), true, time.Date(2026, 3, 30, 16, 0, 0, 0, berlin)},
		{"overnight, before midnight", overnight, time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC), true, time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC)},
		{"overnight, after midnight", overnight, time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC), true, time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC)},
		{"overnight, closed", overnight, time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC), false, time.Date(2026, 3, 3, 22, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open, until := shipgate.WindowState(tt.windows, tt.at)
			if open != tt.open || !until.Equal(tt.until) {
				t.Fatalf("WindowState = %v, %v; want %v, %v", open, until, tt.open, tt.until)
			}
		})
	}
}

func TestWindowValidate(t *testing.T) {
	bad := []shipgate.Window{
		{Start: "9:00", End: "10:00"},
		{Start: "09:00", End: "24:30"},
		{Days: []string{"monday"}, Start: "09:00", End: "10:00"},
		{Start: "09:00", End: "10:00", Timezone: "Nowhere/City"},
	}
	for _, w := range bad {
		if err := w.Validate(); err == nil {
			t.Errorf("%+v validated", w)
		}
	}
}
