package evidence

import "time"

// timeZero is an unset validity bound: a configured key is valid until
// the configuration changes.
var timeZero time.Time
