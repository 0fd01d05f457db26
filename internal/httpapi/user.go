package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// CreateUserRequest creates a user.
type CreateUserRequest struct {
	Name   string          `json:"name"`
	Roles  []shipgate.Role `json:"roles"`
	Groups []string        `json:"groups,omitempty"`
}

// CreateTokenRequest creates a token for a user.
type CreateTokenRequest struct {
	User string `json:"user"`
	Name string `json:"name,omitempty"`
}

// CreateTokenResponse carries the token secret. It is shown this once.
type CreateTokenResponse struct {
	Token  *shipgate.Token `json:"token"`
	Secret string          `json:"secret"`
}

// AddMemberRequest adds a user to a group.
type AddMemberRequest struct {
	User string `json:"user"`
}

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
	var req CreateUserRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	nu := &shipgate.User{Name: req.Name, Roles: req.Roles, Groups: req.Groups}
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error { return tx.CreateUser(r.Context(), u.Name, nu) })
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, nu)
	return nil
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []sqlstore.Group
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
	var req AddMemberRequest
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

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var out []shipgate.Token
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListTokens(r.Context(), r.URL.Query().Get("user"))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req CreateTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	secret := shipgate.NewTokenSecret()
	var resp CreateTokenResponse
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		resp.Token, err = tx.CreateToken(r.Context(), u.Name, req.User, req.Name, secret)
		return err
	})
	if err != nil {
		return err
	}
	resp.Secret = secret
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error { return tx.RevokeToken(r.Context(), u.Name, id) }); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": id})
	return nil
}
