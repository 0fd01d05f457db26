package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// A release no audit event names — written before the audit log kept
// release ids, or straight into the database — is shown with an empty
// timeline, "timeline": [], as the document promises, not null. The
// end-to-end proxy found the null (TestInvisibleTextIsShown).
func TestReleaseWithoutEventsHasEmptyTimeline(t *testing.T) {
	f := newFixture(t)
	if _, err := f.client("admin").Apply(ctx, "web.yaml", []byte(agentService)); err != nil {
		t.Fatal(err)
	}
	id := testutil.InsertRawRelease(t, f.db, "web", "staging", nil)
	status, out := f.raw(t, "GET", fmt.Sprintf("/api/v1/releases/%d", id), f.tokens["viewer"], nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, out)
	}
	if tl, ok := out["timeline"].([]any); !ok || len(tl) != 0 {
		t.Fatalf("timeline = %#v, want []", out["timeline"])
	}
}
