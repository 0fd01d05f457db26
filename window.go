package shipgate

import (
	"fmt"
	"strings"
	"time"
)

// Window is a recurring period in which releases of an environment may
// start. Start and End are wall-clock "HH:MM" in Timezone; an End at or before
// Start means the window runs past midnight into the next day. Days lists the
// weekdays on which a window opens (mon…sun); empty means every day.
type Window struct {
	Days     []string `json:"days,omitempty"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Timezone string   `json:"timezone,omitempty"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Validate checks days, times and the timezone name.
func (w *Window) Validate() error {
	for _, d := range w.Days {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			return fmt.Errorf("%q is not a weekday (use mon, tue, wed, thu, fri, sat, sun)", d)
		}
	}
	if _, err := parseClock(w.Start); err != nil {
		return fmt.Errorf("start: %v", err)
	}
	if _, err := parseClock(w.End); err != nil {
		return fmt.Errorf("end: %v", err)
	}
	if _, err := w.location(); err != nil {
		return err
	}
	return nil
}

func (w *Window) location() (*time.Location, error) {
	if w.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(w.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q is not known (use an IANA name such as Europe/Berlin)", w.Timezone)
	}
	return loc, nil
}

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day (use HH:MM, 24-hour)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// span returns the opening of w that starts on the calendar day of day (in
// w's zone), if w opens that day.
func (w *Window) span(day time.Time, loc *time.Location) (start, end time.Time, ok bool) {
	if len(w.Days) > 0 {
		match := false
		for _, d := range w.Days {
			if weekdays[strings.ToLower(d)] == day.Weekday() {
				match = true
			}
		}
		if !match {
			return time.Time{}, time.Time{}, false
		}
	}
	s, _ := parseClock(w.Start)
	e, _ := parseClock(w.End)
	y, m, d := day.Date()
	start = time.Date(y, m, d, s/60, s%60, 0, 0, loc)
	endDay := d
	if e <= s {
		endDay++
	}
	end = time.Date(y, m, endDay, e/60, e%60, 0, 0, loc)
	return start, end, true
}

// WindowState says whether t falls inside any of the windows. When it does,
// until is when the current window closes; when it does not, until is when
// the next window opens. No windows at all means always open, with a zero
// until. Invalid windows are ignored; Validate refuses them at apply time.
func WindowState(windows []Window, t time.Time) (open bool, until time.Time) {
	if len(windows) == 0 {
		return true, time.Time{}
	}
	var nextOpen, closes time.Time
	for i := range windows {
		w := &windows[i]
		if w.Validate() != nil {
			continue
		}
		loc, _ := w.location()
		local := t.In(loc)
		// A window that opened yesterday may still be open; look one day back
		// and eight ahead to cover every weekday.
		for off := -1; off <= 8; off++ {
			y, m, d := local.Date()
			day := time.Date(y, m, d+off, 12, 0, 0, 0, loc)
			start, end, ok := w.span(day, loc)
			if !ok {
				continue
			}
			if !t.Before(start) && t.Before(end) {
				open = true
				if end.After(closes) {
					closes = end
				}
			} else if start.After(t) && (nextOpen.IsZero() || start.Before(nextOpen)) {
				nextOpen = start
			}
		}
	}
	if open {
		return true, closes
	}
	return false, nextOpen
}
