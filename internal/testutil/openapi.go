package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// OpenAPI holds an OpenAPI 3.0 document, checked by kin-openapi's own
// validator, and checks HTTP exchanges against it: the API's tests run every
// request through Handler, so a response the document does not describe
// (a renamed field, a null where an array is promised, an undocumented
// status) fails the test that caused it.
type OpenAPI struct {
	doc    *openapi3.T
	router routers.Router
}

// maxCheckedBody bounds how much of a response body is kept for checking;
// a longer body (a large artifact) has its status and headers checked only.
const maxCheckedBody = 8 << 20

// LoadOpenAPI parses spec and validates it as an OpenAPI 3.0 document.
func LoadOpenAPI(spec []byte) (*OpenAPI, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid OpenAPI 3.0: %w", err)
	}
	// The document's one server is "/": match paths on any host the test
	// server listens on.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return &OpenAPI{doc: doc, router: router}, nil
}

// Handler serves next and checks each exchange when next returns, failing t
// with the method, path, status and every mismatch. Request bodies are read
// whole before next sees them.
func (o *OpenAPI) Handler(t testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		// What the handler sees is what the client sent, read to the
		// end or to the error that cut it short.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		check := r.Clone(context.Background())
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		if err != nil {
			return // the request never arrived whole: nothing to check
		}
		var respBody []byte
		skip := tw.cut || streaming(w.Header().Get("Content-Type"))
		if !skip {
			respBody = tw.body.Bytes()
		}
		for _, m := range o.Check(check, body, tw.statusCode(), w.Header(), respBody, skip) {
			t.Errorf("openapi: %s %s → %d: %s", check.Method, check.URL.RequestURI(), tw.statusCode(), m)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// Check returns every way one exchange departs from the document: a
// response whose status is not documented for the operation, or whose body
// or headers do not match; a request the document refuses that the server
// answered with success. A request the document refuses and the server
// refuses too (4xx) is a test of bad input, not a mismatch. Requests to no
// documented operation must be answered with a documented Error. With
// skipBody only status and headers are checked.
func (o *OpenAPI) Check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte, skipBody bool) []string {
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		if status < 400 {
			return []string{fmt.Sprintf("no operation in the document for this request (%v), but the server answered %d", err, status)}
		}
		return o.checkError(header, respBody)
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: bearerPresent,
		},
	}
	var out []string
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && status < 400 {
		for _, m := range explain(err, requestSchema(route)) {
			out = append(out, "the request does not match the document, yet the server answered "+strconv.Itoa(status)+": "+m)
		}
	}
	resp := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{
			MultiError:            true,
			IncludeResponseStatus: true,
			ExcludeResponseBody:   skipBody,
		},
	}
	if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil && len(ref.Value.Content) == 0 && len(respBody) > 0 {
		out = append(out, fmt.Sprintf("response %d is documented without a body, but the server sent %d bytes", status, len(respBody)))
	}
	// A body not checked (a stream, or too long to keep) must still have
	// a content type the document gives for the status.
	if ref := route.Operation.Responses.Status(status); skipBody && ref != nil && ref.Value != nil && len(ref.Value.Content) > 0 {
		if ct := header.Get("Content-Type"); ref.Value.Content.Get(ct) == nil {
			out = append(out, fmt.Sprintf("response %d has Content-Type %q, which the document does not give for it", status, ct))
		}
	}
	if err := openapi3filter.ValidateResponse(ctx, resp); err != nil {
		var root *openapi3.SchemaRef
		if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil {
			if mt := ref.Value.Content.Get(header.Get("Content-Type")); mt != nil {
				root = mt.Schema
			}
		}
		name := route.Operation.OperationID
		if name == "" {
			name = route.Method + " " + route.Path
		}
		for _, m := range explain(err, root) {
			out = append(out, fmt.Sprintf("response of %s: %s", name, m))
		}
	}
	return out
}

// checkError checks the answer to a request no operation describes: a JSON
// body matching the document's Error schema.
func (o *OpenAPI) checkError(header http.Header, body []byte) []string {
	ref := o.doc.Components.Schemas["Error"]
	if ref == nil {
		return []string{"the document has no Error schema for answers to undocumented routes"}
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return []string{fmt.Sprintf("answer to an undocumented route has Content-Type %q, want application/json", ct)}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{"answer to an undocumented route is not JSON: " + err.Error()}
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsResponse()); err != nil {
		return explain(err, &openapi3.SchemaRef{Ref: "#/components/schemas/Error", Value: ref.Value})
	}
	return nil
}

// bearerPresent accepts the document's bearer scheme when the request
// carries a bearer token; whether the token is good is the server's to say.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s == nil || s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return in.NewError(fmt.Errorf("security scheme %q is not one this checker knows", in.SecuritySchemeName))
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return in.NewError(errors.New("no bearer token"))
	}
	return nil
}

func requestSchema(route *routers.Route) *openapi3.SchemaRef {
	rb := route.Operation.RequestBody
	if rb == nil || rb.Value == nil {
		return nil
	}
	if mt := rb.Value.Content.Get("application/json"); mt != nil {
		return mt.Schema
	}
	return nil
}

// explain turns a validator error into one line per mismatch, each naming
// where in the body it is (a JSON pointer), where in the document the
// schema that refused it is, and why.
func explain(err error, root *openapi3.SchemaRef) []string {
	var out []string
	var walk func(err error, prefix string)
	walk = func(err error, prefix string) {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				walk(e, prefix)
			}
			return
		}
		var re *openapi3filter.ResponseError
		if errors.As(err, &re) && re.Err != nil {
			walk(re.Err, prefix+re.Reason+": ")
			return
		}
		var qe *openapi3filter.RequestError
		if errors.As(err, &qe) && qe.Err != nil {
			p := prefix
			if qe.Parameter != nil {
				p += fmt.Sprintf("parameter %q in %s: ", qe.Parameter.Name, qe.Parameter.In)
			} else if qe.RequestBody != nil {
				p += "request body: "
			}
			if qe.Reason != "" {
				p += qe.Reason + ": "
			}
			walk(qe.Err, p)
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			ptr := se.JSONPointer()
			out = append(out, fmt.Sprintf("%sat %s: %s (schema %s, keyword %q)", prefix, "/"+strings.Join(ptr, "/"), se.Reason, schemaPath(root, ptr), se.SchemaField))
			return
		}
		out = append(out, prefix+err.Error())
	}
	walk(err, "")
	slices.Sort(out)
	return slices.Compact(out)
}

// schemaPath follows a JSON pointer into a value through the schema that
// describes it and returns where in the document the schema of the pointed
// value is, e.g. "#/components/schemas/User/properties/groups".
func schemaPath(root *openapi3.SchemaRef, ptr []string) string {
	if root == nil {
		return "(none)"
	}
	path := root.Ref
	if path == "" {
		path = "(inline)"
	}
	s := root
	for _, seg := range ptr {
		next, step := childSchema(s, seg)
		if next == nil {
			return path + " (which does not describe " + strconv.Quote(seg) + ")"
		}
		if next.Ref != "" {
			path = next.Ref
		} else {
			path += step
		}
		s = next
	}
	return path
}

func childSchema(s *openapi3.SchemaRef, seg string) (*openapi3.SchemaRef, string) {
	if s == nil || s.Value == nil {
		return nil, ""
	}
	v := s.Value
	if p, ok := v.Properties[seg]; ok {
		return p, "/properties/" + seg
	}
	if _, err := strconv.Atoi(seg); err == nil && v.Items != nil {
		return v.Items, "/items"
	}
	if v.AdditionalProperties.Schema != nil {
		return v.AdditionalProperties.Schema, "/additionalProperties"
	}
	for i, sub := range slices.Concat(v.AllOf, v.OneOf, v.AnyOf) {
		if c, step := childSchema(sub, seg); c != nil {
			if c.Ref != "" {
				return c, ""
			}
			return c, fmt.Sprintf("/allOf/%d%s", i, step)
		}
	}
	return nil, ""
}

// teeWriter passes a response through and keeps a copy of its body.
type teeWriter struct {
	http.ResponseWriter
	mu     sync.Mutex
	status int
	body   bytes.Buffer
	cut    bool
}

func (w *teeWriter) WriteHeader(code int) {
	w.mu.Lock()
	if w.status == 0 {
		w.status = code
	}
	w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if streaming(w.ResponseWriter.Header().Get("Content-Type")) || w.body.Len()+len(p) > maxCheckedBody {
		w.cut = true
	} else if !w.cut {
		w.body.Write(p)
	}
	w.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

func (w *teeWriter) statusCode() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Flush and Unwrap keep http.ResponseController working through the copy.
func (w *teeWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
