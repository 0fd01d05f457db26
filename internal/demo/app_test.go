package demo

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReadAppConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v2.conf")
	os.WriteFile(p, []byte("version=2.0\nfail_rate=0.25\nbroken_health=true\nerror_rate=0.5\nlatency=20ms\nnot a pair\n"), 0o600)
	got, err := ReadAppConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := AppConfig{Version: "2.0", FailRate: 0.25, BrokenHealth: true, ErrorRate: 0.5, Latency: 20 * time.Millisecond}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	os.WriteFile(p, []byte("fail_rate=1\n"), 0o600)
	if _, err := ReadAppConfig(p); err == nil {
		t.Fatal("a config without a version was accepted")
	}
}
