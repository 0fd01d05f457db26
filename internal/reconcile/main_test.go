package reconcile_test

import (
	"os"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

// TestMain stops the throwaway PostgreSQL cluster the Dispatcher tests
// start, once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}
