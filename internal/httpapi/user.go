package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
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
	var req client.CreateTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	secret := shipgate.NewTokenSecret()
	var resp client.NewToken
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
