package shipgate_test

import (
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"90s": 90 * time.Second, "10m": 10 * time.Minute, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute}
	for s, want := range good {
		if d, err := shipgate.ParseDuration(s); err != nil || d.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v", s, d, err)
		}
	}
	for _, s := range []string{"", "10", "ten minutes", "-5m", "1.5d", "d"} {
		if _, err := shipgate.ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) accepted", s)
		}
	}
}

func TestTopoOrder(t *testing.T) {
	p := shipgate.Pipeline{Jobs: []shipgate.Job{
		{Name: "smoke", Needs: []string{"deploy-b", "deploy-a"}},
		{Name: "deploy-a", Needs: []string{"build"}},
		{Name: "build"},
		{Name: "deploy-b", Needs: []string{"build"}},
	}}
	got := p.TopoOrder()
	want := []string{"build", "deploy-a", "deploy-b", "smoke"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TopoOrder = %v, want %v", got, want)
		}
	}
}

func TestReleaseDigest(t *testing.T) {
	c := shipgate.ReleaseContent{Service: "web", Environment: "prod", Version: "1", Inputs: map[string]string{"a": "1", "b": "2"},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}
	d1 := c.Digest()
	c.CreatedAt = c.CreatedAt.UTC()
	if c.Digest() != d1 {
		t.Fatal("digest depends on the time zone of created_at")
	}
	c.Inputs = map[string]string{"b": "2", "a": "1"}
	if c.Digest() != d1 {
		t.Fatal("digest depends on map order")
	}
	c.Inputs["a"] = "changed"
	if c.Digest() == d1 {
		t.Fatal("digest ignores inputs")
	}
}

func TestSecretBox(t *testing.T) {
	key := make([]byte, shipgate.SecretKeySize)
	box, err := shipgate.NewSecretBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal("db_password", "hunter2")
	if v, err := box.Open("db_password", sealed); err != nil || v != "hunter2" {
		t.Fatalf("open = %q, %v", v, err)
	}
	if _, err := box.Open("other_name", sealed); err == nil {
		t.Fatal("a sealed secret opened under another name")
	}
	if box.Fingerprint("p", "x") == box.Fingerprint("p", "y") || box.Fingerprint("p", "x") != box.Fingerprint("p", "x") {
		t.Fatal("fingerprints are not deterministic per value")
	}
	if _, err := shipgate.NewSecretBox(key[:16]); err == nil {
		t.Fatal("short key accepted")
	}
}
