package httpapi

import (
	"context"
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []*shipgate.User
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListUsers(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.CreateUserRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	nu := &shipgate.User{Name: req.Name, Roles: req.Roles, Groups: req.Groups}
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error { return tx.CreateUser(r.Context(), u.Name, nu) })
	if err != nil {
		return err
	}
	if nu.Groups == nil {
		nu.Groups = []string{} // the document promises an array, as every read of a user gives
	}
	writeJSON(w, http.StatusCreated, nu)
	return nil
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []shipgate.Group
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListGroups(r.Context())
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) addGroupMember(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.AddMemberRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	group := r.PathValue("name")
	var out *shipgate.User
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		if err := tx.AddGroupMember(r.Context(), u.Name, group, req.User); err != nil {
			return err
		}
		var err error
		out, err = tx.FindUser(r.Context(), req.User)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listTokens lists the caller's own tokens; an admin sees everyone's, or
// one user's with ?user=.
func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	user := r.URL.Query().Get("user")
	if !u.Can(shipgate.PermAdmin) {
		if user != "" && user != u.Name {
			return shipgate.Errorf(shipgate.EFORBIDDEN, "user %q may list only their own tokens, not those of %q", u.Name, user)
		}
		user = u.Name
	}
	var out []shipgate.Token
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListTokens(r.Context(), user)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createToken issues a token. Its lifetime is what was asked within the
// server's maximum: the maximum when nothing was asked, refused above it.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.CreateTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	lifetime, err := shipgate.TokenLifetime(req.ExpiresIn.Std(), h.TokenMaxLifetime)
	if err != nil {
		return err
	}
	secret := shipgate.NewTokenSecret()
	var resp client.NewToken
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		resp.Token, err = tx.IssueToken(r.Context(), u.Name, req.User, req.Name, secret, lifetime)
		return err
	})
	if err != nil {
		return err
	}
	resp.Secret = secret
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// revokeToken revokes one of the caller's own tokens; an admin revokes
// anyone's. To anyone else, a token that is not theirs and a token that
// does not exist get the same refusal.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		if !u.Can(shipgate.PermAdmin) {
			t, err := tx.FindToken(r.Context(), id)
			if shipgate.ErrorCode(err) == shipgate.ENOTFOUND || err == nil && t.User != u.Name {
				return shipgate.Errorf(shipgate.EFORBIDDEN, "user %q may revoke only their own tokens, and token %d is not one of them", u.Name, id)
			} else if err != nil {
				return err
			}
		}
		return tx.RevokeToken(r.Context(), u.Name, id)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": id})
	return nil
}

func (h *Handler) removeGroupMember(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	group, name := r.PathValue("name"), r.PathValue("user")
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	return h.changeUser(w, r, name, func(ctx context.Context, tx *sqlstore.Tx) ([]int64, error) {
		return tx.RemoveGroupMemberGuarded(ctx, u.Name, group, name, force)
	})
}

func (h *Handler) setUserRoles(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.SetRolesRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	return h.changeUser(w, r, name, func(ctx context.Context, tx *sqlstore.Tx) ([]int64, error) {
		return tx.SetUserRolesGuarded(ctx, u.Name, name, req.Roles, force)
	})
}

func (h *Handler) disableUser(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.DisableUserRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	return h.changeUser(w, r, name, func(ctx context.Context, tx *sqlstore.Tx) ([]int64, error) {
		return tx.DisableUserGuarded(ctx, u.Name, name, req.Reason, force)
	})
}

func (h *Handler) enableUser(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req struct{}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	return h.changeUser(w, r, name, func(ctx context.Context, tx *sqlstore.Tx) ([]int64, error) {
		return nil, tx.EnableUser(ctx, u.Name, name)
	})
}

// changeUser applies a change to user name and, in the same transaction,
// plans again every release on which the change withdrew approvals: a
// queued release that no longer has enough goes back to waiting before
// anything can start it. It answers with the user as they are now.
func (h *Handler) changeUser(w http.ResponseWriter, r *http.Request, name string, change func(ctx context.Context, tx *sqlstore.Tx) ([]int64, error)) error {
	ctx := r.Context()
	var out *shipgate.User
	err := h.DB.Update(ctx, func(tx *sqlstore.Tx) error {
		touched, err := change(ctx, tx)
		if err != nil {
			return err
		}
		for _, id := range touched {
			if _, _, err := reconcile.Release(ctx, tx, id); err != nil {
				return err
			}
		}
		out, err = tx.FindUser(ctx, name)
		return err
	})
	if err != nil {
		return err
	}
	h.changed()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// boolQuery reads an optional true/false query parameter; anything else is
// refused rather than taken as false.
func boolQuery(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, shipgate.Errorf(shipgate.EINVALID, "query parameter %s=%q must be true or false", name, v)
	}
}
