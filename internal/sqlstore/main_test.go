package sqlstore_test

import (
	"os"
	"testing"

	"github.com/shipgate/shipgate/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}
