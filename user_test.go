package shipgate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func TestRolePermissions(t *testing.T) {
	admin := &shipgate.User{Name: "root", Roles: []shipgate.Role{shipgate.RoleAdmin}}
	for _, p := range []shipgate.Permission{shipgate.PermAdmin, shipgate.PermServiceApply, shipgate.PermReleaseCreate, shipgate.PermOwnTokens} {
		if !admin.Can(p) {
			t.Errorf("admin cannot %s", p)
		}
	}
	for _, p := range []shipgate.Permission{shipgate.PermApprove, shipgate.PermAgent, shipgate.PermAgentJoin} {
		if admin.Can(p) {
			t.Errorf("admin can %s", p)
		}
	}
	for _, r := range shipgate.Roles {
		if !slices.Contains(shipgate.RolePermissions(r), shipgate.PermOwnTokens) || !slices.Contains(shipgate.RolePermissions(r), shipgate.PermRead) {
			t.Errorf("role %s cannot read or manage its own tokens", r)
		}
	}
	now := time.Now()
	off := &shipgate.User{Name: "x", Roles: []shipgate.Role{shipgate.RoleAdmin, shipgate.RoleApprover}, DisabledAt: &now}
	if off.Can(shipgate.PermRead) {
		t.Error("a disabled user can read")
	}
}

func TestNormalizeRoles(t *testing.T) {
	got, err := shipgate.NormalizeRoles([]shipgate.Role{"Viewer", "approver", "viewer"})
	if err != nil || len(got) != 2 || got[0] != "approver" || got[1] != "viewer" {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := shipgate.NormalizeRoles(nil); shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), "disable") {
		t.Fatalf("no roles: %v", err)
	}
	if _, err := shipgate.NormalizeRoles([]shipgate.Role{"root"}); shipgate.ErrorCode(err) != shipgate.EINVALID {
		t.Fatalf("unknown role: %v", err)
	}
}

func TestCheckNotSelf(t *testing.T) {
	if err := shipgate.CheckNotSelf("root", "root", "disable themselves"); shipgate.ErrorCode(err) != shipgate.EFORBIDDEN || !strings.Contains(err.Error(), "own") {
		t.Fatalf("self: %v", err)
	}
	if err := shipgate.CheckNotSelf("root", "alice", "disable"); err != nil {
		t.Fatal(err)
	}
}

func TestTokenLifetime(t *testing.T) {
	const h = time.Hour
	tests := []struct {
		requested, max, want time.Duration
		err                  string
	}{
		{0, 0, 0, ""},                     // no maximum, no request: never expires
		{24 * h, 0, 24 * h, ""},           // as asked
		{0, 90 * 24 * h, 90 * 24 * h, ""}, // the maximum is the default
		{24 * h, 90 * 24 * h, 24 * h, ""},
		{90 * 24 * h, 90 * 24 * h, 90 * 24 * h, ""},
		{91 * 24 * h, 90 * 24 * h, 0, "longer than this server's maximum"},
		{-h, 0, 0, "negative"},
		{time.Second, 0, 0, "shorter than a minute"},
	}
	for _, tt := range tests {
		got, err := shipgate.TokenLifetime(tt.requested, tt.max)
		if tt.err != "" {
			if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("TokenLifetime(%s, %s) error = %v, want %q", tt.requested, tt.max, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("TokenLifetime(%s, %s) = %s, %v; want %s", tt.requested, tt.max, got, err, tt.want)
		}
	}
}

func TestTokenState(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	tests := []struct {
		tok      shipgate.Token
		disabled bool
		want     shipgate.TokenState
	}{
		{shipgate.Token{}, false, shipgate.TokenActive},
		{shipgate.Token{ExpiresAt: &future}, false, shipgate.TokenActive},
		{shipgate.Token{ExpiresAt: &now}, false, shipgate.TokenExpired},
		{shipgate.Token{ExpiresAt: &future}, true, shipgate.TokenUserDisabled},
		{shipgate.Token{ExpiresAt: &past}, true, shipgate.TokenExpired},
		{shipgate.Token{RevokedAt: &past, ExpiresAt: &past}, true, shipgate.TokenRevoked},
	}
	for i, tt := range tests {
		if got := tt.tok.StateAt(now, tt.disabled); got != tt.want {
			t.Errorf("%d: %s, want %s", i, got, tt.want)
		}
	}
}
