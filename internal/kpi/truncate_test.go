package kpi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

// TestTruncateBoundsLists: the KPIs of many releases carry every release
// id behind every figure (4 MB of JSON for 100,000 releases), so anyone
// who may read could make the server build and send megabytes per
// request. Truncate keeps the newest n of each list, the counts whole,
// and says so.
func TestTruncateBoundsLists(t *testing.T) {
	h := synthetic(3000)
	k := Compute(h, shipgate.KPIFilter{Since: t0, Until: t0.Add(31 * 24 * time.Hour)})
	whole, _ := json.Marshal(k)
	Truncate(k, 100)
	if !k.Truncated {
		t.Fatal("not marked truncated")
	}
	if k.Releases != 3000 || k.ReleaseIDs[len(k.ReleaseIDs)-1] != 3000 {
		t.Fatalf("releases %d, newest %d", k.Releases, k.ReleaseIDs[len(k.ReleaseIDs)-1])
	}
	lists := [][]int64{k.ReleaseIDs, k.JobQueue.Releases, k.ReleaseQueue.Releases, k.Canaries.Releases, k.Canaries.AbortedReleases, k.Canaries.Duration.Releases,
		k.Rework.RollbackReleases, k.Rework.HotfixReleases}
	for _, g := range k.Gates {
		lists = append(lists, g.FailedReleases, g.FlakyReleases)
	}
	for _, a := range k.Canaries.AbortReasons {
		lists = append(lists, a.Releases)
	}
	for _, j := range k.Judge {
		lists = append(lists, j.Releases)
	}
	for i, l := range lists {
		if len(l) > 100 {
			t.Errorf("list %d has %d ids", i, len(l))
		}
	}
	if cut, _ := json.Marshal(k); len(cut)*5 > len(whole) {
		t.Errorf("truncated %d bytes of %d", len(cut), len(whole))
	}
	small := Compute(h, shipgate.KPIFilter{Since: t0, Until: t0.Add(time.Hour)})
	Truncate(small, 100)
	if small.Truncated {
		t.Error("a short report marked truncated")
	}
}
