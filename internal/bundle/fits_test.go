package bundle

import (
	"testing"

	"github.com/shipgate/shipgate"
)

// TestBuildRefusesWhatVerifyRefuses: the event and decision counts do not
// bound a bundle's size (details, summaries, inputs are per item), so Build
// must itself refuse a file larger than Verify reads.
func TestBuildRefusesWhatVerifyRefuses(t *testing.T) {
	if _, err := fits(1, make([]byte, MaxBytes+1)); shipgate.ErrorCode(err) != shipgate.ETOOLARGE {
		t.Errorf("oversized bundle: %v, want ETOOLARGE", err)
	}
	if b, err := fits(1, make([]byte, MaxBytes)); err != nil || len(b) != MaxBytes {
		t.Errorf("bundle at the limit: %d %v", len(b), err)
	}
}
