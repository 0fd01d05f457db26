package client

import (
	"context"
	"net/url"

	"github.com/shipgate/shipgate"
)

// CreateUser creates a user with roles and groups.
func (c *Client) CreateUser(ctx context.Context, name string, roles []shipgate.Role, groups []string) (*shipgate.User, error) {
	var out shipgate.User
	return &out, c.do(ctx, "POST", "/users", nil, CreateUserRequest{Name: name, Roles: roles, Groups: groups}, &out)
}

// Users lists users.
func (c *Client) Users(ctx context.Context) ([]*shipgate.User, error) {
	var out []*shipgate.User
	return out, c.do(ctx, "GET", "/users", nil, nil, &out)
}

// Groups lists groups with members.
func (c *Client) Groups(ctx context.Context) ([]shipgate.Group, error) {
	var out []shipgate.Group
	return out, c.do(ctx, "GET", "/groups", nil, nil, &out)
}

// AddGroupMember adds user to group.
func (c *Client) AddGroupMember(ctx context.Context, group, user string) (*shipgate.User, error) {
	var out shipgate.User
	return &out, c.do(ctx, "POST", "/groups/"+url.PathEscape(group)+"/members", nil, AddMemberRequest{User: user}, &out)
}

// RemoveGroupMember takes user out of group. Their approvals that no
// longer hold are withdrawn.
func (c *Client) RemoveGroupMember(ctx context.Context, group, user string) (*shipgate.User, error) {
	return c.RemoveGroupMemberForce(ctx, group, user, false)
}

// RemoveGroupMemberForce is RemoveGroupMember that, with force, also
// removes the last member of a group that services' approval policies
// name (the server refuses that otherwise).
func (c *Client) RemoveGroupMemberForce(ctx context.Context, group, user string, force bool) (*shipgate.User, error) {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	var out shipgate.User
	return &out, c.do(ctx, "DELETE", "/groups/"+url.PathEscape(group)+"/members/"+url.PathEscape(user), q, nil, &out)
}

// SetUserRoles replaces a user's roles.
func (c *Client) SetUserRoles(ctx context.Context, user string, roles []shipgate.Role) (*shipgate.User, error) {
	return c.SetUserRolesForce(ctx, user, roles, false)
}

// SetUserRolesForce is SetUserRoles that, with force, also takes the
// approver role from the only member who may approve of a group that
// services' approval policies name (the server refuses that otherwise).
func (c *Client) SetUserRolesForce(ctx context.Context, user string, roles []shipgate.Role, force bool) (*shipgate.User, error) {
	var out shipgate.User
	return &out, c.do(ctx, "PUT", "/users/"+url.PathEscape(user)+"/roles", forceQuery(force), SetRolesRequest{Roles: roles}, &out)
}

// DisableUser disables a user: their tokens stop working at once and
// their approvals on releases that have not started stop counting.
func (c *Client) DisableUser(ctx context.Context, user, reason string) (*shipgate.User, error) {
	return c.DisableUserForce(ctx, user, reason, false)
}

// DisableUserForce is DisableUser that, with force, also disables the
// only member who may approve of a group that services' approval policies
// name (the server refuses that otherwise).
func (c *Client) DisableUserForce(ctx context.Context, user, reason string, force bool) (*shipgate.User, error) {
	var out shipgate.User
	return &out, c.do(ctx, "POST", "/users/"+url.PathEscape(user)+"/disable", forceQuery(force), DisableUserRequest{Reason: reason}, &out)
}

func forceQuery(force bool) url.Values {
	if !force {
		return nil
	}
	return url.Values{"force": {"true"}}
}

// EnableUser lets a disabled user in again.
func (c *Client) EnableUser(ctx context.Context, user string) (*shipgate.User, error) {
	var out shipgate.User
	return &out, c.do(ctx, "POST", "/users/"+url.PathEscape(user)+"/enable", nil, struct{}{}, &out)
}

// CreateToken creates a token for user with the server's default lifetime;
// the secret is in the result.
func (c *Client) CreateToken(ctx context.Context, user, name string) (*NewToken, error) {
	return c.IssueToken(ctx, CreateTokenRequest{User: user, Name: name})
}

// IssueToken creates a token as req asks; the secret is in the result.
func (c *Client) IssueToken(ctx context.Context, req CreateTokenRequest) (*NewToken, error) {
	var out NewToken
	return &out, c.do(ctx, "POST", "/tokens", nil, req, &out)
}

// Tokens lists tokens: the caller's own, or for an admin everyone's (or
// one user's when user is not "").
func (c *Client) Tokens(ctx context.Context, user string) ([]shipgate.Token, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	var out []shipgate.Token
	return out, c.do(ctx, "GET", "/tokens", q, nil, &out)
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", "/tokens/"+itoa(id), nil, nil, nil)
}
