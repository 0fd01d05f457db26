package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

// Eight readers (a viewer token) that open the audit stream and stop
// reading it hold no read transaction: a page is read, its transaction
// ends, and only then is it written (hostile review of issue 12: the
// stream wrote while its transaction was open, so eight stalled readers
// held every SQLite read connection and every other read of the server
// waited).
func TestAuditStreamSlowReadersHoldNoReadTransaction(t *testing.T) {
	f := newFixtureOn(t, "sqlite")
	for done := 0; done < 40_000; done += 2000 {
		testutil.Update(t, f.db, func(tx *sqlstore.Tx) error {
			events := make([]shipgate.AuditEvent, 2000)
			for i := range events {
				events[i] = shipgate.NewAuditEvent("alice", shipgate.ActionReleaseApproved, fmt.Sprintf("release/%d", (done+i)/10+1),
					map[string]any{"digest": "sha256:" + shipgate.SHA256Hex([]byte{byte(i)}), "comment": "looks good", "approval_id": done + i})
			}
			return tx.Audit(ctx, events...)
		})
	}
	u, _ := url.Parse(f.srv.URL)
	var conns []*bufio.Reader
	for range 8 {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetReadBuffer(4096)
		defer c.Close()
		fmt.Fprintf(c, "GET /api/v1/audit/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", f.tokens["viewer"])
		conns = append(conns, bufio.NewReaderSize(c, 4096))
	}
	// Every stream has begun (its head line arrived); none is read further,
	// so each blocks writing once the sockets' buffers are full.
	for i, r := range conns {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if strings.HasPrefix(line, `{"head"`) {
				break
			}
		}
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	err := f.db.View(vctx, func(tx *sqlstore.Tx) error { _, _, err := tx.AuditHead(vctx); return err })
	if err != nil {
		t.Fatalf("an unrelated read waited %s and failed: %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("an unrelated read took %s", time.Since(start))
}
