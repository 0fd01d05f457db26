package shipgate

import (
	"strings"
	"testing"
	"time"
)

func TestCompareReleasesIdenticalIsEmpty(t *testing.T) {
	r := &Release{ReleaseContent: ReleaseContent{Version: "1", Inputs: map[string]string{"a": "1"}, SecretInputs: map[string]string{"s": "fp"}}}
	if got := CompareReleases(r, r); len(got) != 0 {
		t.Fatalf("a release against itself: %+v", got)
	}
}

func TestCompareReleasesInputsAndSecrets(t *testing.T) {
	cur := &Release{ReleaseContent: ReleaseContent{Version: "1", Inputs: map[string]string{"gone": "x", "same": "1", "moved": "a"}, SecretInputs: map[string]string{"key": "fp1", "old": "fp"}}}
	next := &Release{ReleaseContent: ReleaseContent{Version: "1", Inputs: map[string]string{"same": "1", "moved": "b", "new": "y"}, SecretInputs: map[string]string{"key": "fp2", "fresh": "fp"}}}
	next.Policy.Approvals.Required = 2
	var got []string
	for _, c := range CompareReleases(cur, next) {
		if c.Secret && (c.Old != "" || c.New != "") {
			t.Errorf("a secret's fingerprint is shown: %+v", c)
		}
		got = append(got, c.Field+" "+c.Change+" "+c.Old+">"+c.New)
	}
	want := []string{"input.gone removed x>", "input.moved changed a>b", "input.new added >y",
		"secret_input.fresh added >", "secret_input.key changed >", "secret_input.old removed >", "policy changed " + cur.PolicyDigest() + ">" + next.PolicyDigest()}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateRepositoryURL(t *testing.T) {
	for s, ok := range map[string]bool{
		"": true, "https://github.com/acme/web": true, "https://git.example.com:8443/a/b": true,
		"http://github.com/acme/web": false, "javascript:alert(1)": false, "https://u:p@github.com/a": false,
		"https://github.com/a?x=1": false, "https://github.com/a#x": false, "https:///a": false, "github.com/a": false,
		"https://github.com/a b": false, "https://github.com/" + strings.Repeat("a", 600): false,
	} {
		if err := ValidateRepositoryURL(s); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", s, err, ok)
		}
	}
}

func TestAwaitsApprovalBy(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	r := &Release{ID: 7, State: StatePendingApproval, ReleaseContent: ReleaseContent{Environment: "prod", CreatedBy: "carol",
		Policy: Environment{Approvals: ApprovalPolicy{Required: 2, FromGroups: []string{"rm"}}}, ApproverGroups: map[string][]string{"rm": {"carol", "dave"}}}}
	dave := &User{Name: "dave", Roles: []Role{RoleApprover}, Groups: []string{"rm"}}
	carol := &User{Name: "carol", Roles: []Role{RoleApprover}, Groups: []string{"rm"}}
	late := &User{Name: "late", Roles: []Role{RoleApprover}, Groups: []string{"rm"}}
	past := now.Add(-time.Minute)
	for _, c := range []struct {
		name string
		u    *User
		a    []Approval
		want bool
	}{
		{"eligible", dave, nil, true},
		{"creator", carol, nil, false},
		{"joined later", late, nil, false},
		{"approved already", dave, []Approval{{Actor: "dave", Decision: DecisionApprove}}, false},
		{"approval expired", dave, []Approval{{Actor: "dave", Decision: DecisionApprove, ExpiresAt: &past}}, true},
		{"someone else approved", dave, []Approval{{Actor: "erin", Decision: DecisionApprove}}, true},
	} {
		if got := AwaitsApprovalBy(r, r, c.a, c.u, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	done := *r
	done.State = StateQueued
	if AwaitsApprovalBy(&done, &done, nil, dave, now) {
		t.Error("a queued release awaits approval")
	}
}
