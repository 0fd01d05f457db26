package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/shipgate/shipgate"
)

//go:embed openapi.json
var openAPIDoc []byte

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
	return nil
}
