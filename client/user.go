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

// CreateToken creates a token for user; the secret is in the result.
func (c *Client) CreateToken(ctx context.Context, user, name string) (*NewToken, error) {
	var out NewToken
	return &out, c.do(ctx, "POST", "/tokens", nil, CreateTokenRequest{User: user, Name: name}, &out)
}

// Tokens lists tokens, of one user or of all when user is "".
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
