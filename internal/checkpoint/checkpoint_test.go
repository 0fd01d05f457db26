package checkpoint_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/checkpoint"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/testutil"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}

func TestLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit-signing.key")
	k1, err := checkpoint.LoadKey("", path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o", fi.Mode().Perm())
	}
	k2, err := checkpoint.LoadKey("", path)
	if err != nil || k2.PublicKey().String() != k1.PublicKey().String() {
		t.Fatalf("reloaded key differs: %v", err)
	}
	env := strings.Repeat("ab", 32)
	k3, err := checkpoint.LoadKey(env, path)
	if err != nil || k3.PublicKey().String() == k1.PublicKey().String() {
		t.Fatalf("SHIPGATE_AUDIT_KEY not used: %v", err)
	}
	if _, err := checkpoint.LoadKey("abcd", path); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("short env key: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := checkpoint.LoadKey("", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not hex\n"), 0o600)
	if _, err := checkpoint.LoadKey("", bad); err == nil {
		t.Fatal("garbage key file accepted")
	}
}

// Run signs at start and once more when it stops, so the events written
// just before a shutdown are covered by a checkpoint.
func TestSignerSignsAtStartAndOnStop(t *testing.T) {
	db := testutil.NewStore(t, "sqlite")
	key, _ := checkpoint.LoadKey(strings.Repeat("01", 32), "")
	s := &checkpoint.Signer{DB: db, Key: key, Every: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	newest := func() shipgate.AuditCheckpoint {
		var cp shipgate.AuditCheckpoint
		db.View(ctx, func(tx *sqlstore.Tx) error { cp, _, _ = tx.NewestCheckpoint(ctx); return nil })
		return cp
	}
	testutil.MustApply(t, db, testutil.ServiceYAML)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(runCtx) }()
	testutil.WaitFor(t, "a checkpoint at start", func() bool { return newest().Seq == 1 })
	testutil.MustUser(t, db, "alice", []shipgate.Role{shipgate.RoleViewer})
	stop()
	<-done
	var head int64
	db.View(ctx, func(tx *sqlstore.Tx) error { head, _, _ = tx.AuditHead(ctx); return nil })
	if cp := newest(); cp.Seq != head || head < 2 {
		t.Fatalf("after stop the newest checkpoint is seq %d, head %d", cp.Seq, head)
	}
}

// A checkpoint asked for on demand is stored, not published: a caller
// asking after every event cannot flood the sinks. The background signer
// publishes the head within its interval — also when the newest
// checkpoint is such an unpublished one and the head has not moved since —
// and each head once per sink, as the outbox records: a restarted signer,
// or another server's, does not send it again.
func TestOnDemandCheckpointsArePublishedByTheSigner(t *testing.T) {
	db := testutil.NewStore(t, "sqlite")
	db.CheckpointOutbox = func(_ context.Context, cp shipgate.AuditCheckpoint) ([]sqlstore.Notification, error) {
		return []sqlstore.Notification{{Sink: "hook", EventType: "audit.checkpoint", Subject: "audit", Payload: fmt.Sprintf(`{"seq":%d}`, cp.Seq)}}, nil
	}
	published := func() []int64 {
		var seqs []int64
		db.View(ctx, func(tx *sqlstore.Tx) error {
			list, err := tx.ListNotifications(ctx, "", 100)
			for _, n := range list {
				seqs = append(seqs, n.AuditSeq)
			}
			return err
		})
		slices.Sort(seqs)
		return seqs
	}
	key, _ := checkpoint.LoadKey(strings.Repeat("01", 32), "")
	newSigner := func() *checkpoint.Signer {
		return &checkpoint.Signer{DB: db, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	s := newSigner()
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		testutil.MustUser(t, db, fmt.Sprintf("u%d", i), []shipgate.Role{shipgate.RoleViewer})
		cp, created, err := db.CheckpointUnpublished(ctx, key)
		if err != nil || !created {
			t.Fatalf("on-demand checkpoint %d: %+v %v %v", i, cp, created, err)
		}
	}
	if got := published(); len(got) != 1 {
		t.Fatalf("on-demand checkpoints were published: %v", got)
	}
	cp, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, signer := range []*checkpoint.Signer{s, newSigner()} { // again, and after a restart
		if _, err := signer.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := published(); len(got) != 2 || got[1] != cp.Seq {
		t.Fatalf("published %v; want the start's and then the head seq %d once", got, cp.Seq)
	}
}
