package httpapi

import (
	"net/http"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/client"
	"github.com/shipgate/shipgate/internal/sqlstore"
)

// SDK keys (issue 15) let OpenFeature SDKs evaluate one environment's
// flags over OFREP (internal/ofrep). Making and revoking them is for
// admins, like agent join tokens: a key is a credential that works
// outside the users and roles of this API. Listing shows no secret.
func (h *Handler) sdkKeyRoutes() []Route {
	return []Route{
		route("GET", "/api/v1/sdk-keys", shipgate.PermRead, "List SDK keys (environment=E: one environment's)", h.listSDKKeys),
		route("POST", "/api/v1/sdk-keys", shipgate.PermAdmin, "Create an SDK key for one environment's flags over OFREP", h.createSDKKey),
		route("POST", "/api/v1/sdk-keys/{id}/revoke", shipgate.PermAdmin, "Revoke an SDK key", h.revokeSDKKey),
	}
}

func (h *Handler) listSDKKeys(w http.ResponseWriter, r *http.Request, _ *shipgate.User) error {
	var out []shipgate.SDKKey
	err := h.DB.View(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		out, err = tx.ListSDKKeys(r.Context(), r.URL.Query().Get("environment"))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createSDKKey(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	var req client.CreateSDKKeyRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	secret := shipgate.NewSDKKeySecret()
	var k *shipgate.SDKKey
	err := h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		k, err = tx.CreateSDKKey(r.Context(), u.Name, req.Environment, req.Name, secret)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, client.NewSDKKey{Key: k, Secret: secret})
	return nil
}

func (h *Handler) revokeSDKKey(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req client.RevokeSDKKeyRequest
	if err := readOptionalJSON(r, &req); err != nil {
		return err
	}
	var k *shipgate.SDKKey
	err = h.DB.Update(r.Context(), func(tx *sqlstore.Tx) error {
		var err error
		k, err = tx.RevokeSDKKey(r.Context(), u.Name, id, req.Reason)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}
