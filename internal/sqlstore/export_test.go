package sqlstore

import "time"

// SetWallClock makes f this machine's clock for the store until restore
// is called, so a test can skew it.
func SetWallClock(f func() time.Time) (restore func()) {
	old := wallClock
	wallClock = f
	return func() { wallClock = old }
}
