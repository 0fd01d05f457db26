package httpapi

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/shipgate/shipgate"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument returns the OpenAPI 3.0 description this server serves,
// for tests that check real exchanges against it.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDoc) }

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, u *shipgate.User) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
	return nil
}
