// Package client is the public Go client of shipgate's HTTP API. The
// shipgate CLI uses nothing else to talk to a server, and neither need
// anyone's scripts.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// Client calls one shipgate server with one token.
type Client struct {
	BaseURL    string
	Token      string
	HTTPClient *http.Client
	UserAgent  string
}

// New returns a client for the server at baseURL (for example
// "http://127.0.0.1:8080").
func New(baseURL, token string) *Client {
	return &Client{
		BaseURL:    strings.TrimRight(baseURL, "/"),
		Token:      token,
		HTTPClient: &http.Client{Timeout: 10 * time.Minute},
		UserAgent:  "shipgate-client",
	}
}

// apiError is the error body every failing endpoint returns.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends a request and decodes a JSON response into out. A failing
// response becomes a *shipgate.Error with the server's code and message.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	if err := checkBaseURL(c.BaseURL); err != nil {
		return err
	}
	u := c.BaseURL + "/api/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		if te := transportError(c.BaseURL, err); te != nil {
			return te
		}
		return fmt.Errorf("cannot reach shipgate server at %s: %w", RedactURL(c.BaseURL), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 400 {
		return errorFrom(resp.StatusCode, u, data, resp.Header.Get("Content-Type"))
	}
	if out == nil {
		return nil
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return notShipgate(c.BaseURL, resp.StatusCode, resp.Header.Get("Content-Type"), nil)
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return notShipgate(c.BaseURL, resp.StatusCode, resp.Header.Get("Content-Type"), fmt.Errorf("decode response of %s %s: %w", method, path, err))
	}
	return nil
}

// errorFrom turns a failing response into a *shipgate.Error with the
// server's code and message.
// An answer without shipgate's error body (a proxy's error page, another
// service on the port) keeps the code of its status, and says it did not
// come from shipgate.
func errorFrom(status int, u string, data []byte, contentType string) error {
	if err := plainToHTTPS(status, u, data); err != nil {
		return err
	}
	var e apiError
	if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
		return &shipgate.Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	body := strings.TrimSpace(string(data))
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	// The URL is the user's mistake, not a fault of that server: the error
	// reads as the client's own (TransportError), and keeps the status's
	// code underneath for callers that retry on it.
	msg := fmt.Sprintf("%s: %s", notShipgate(baseOf(u), status, contentType, nil).Error(), shipgate.EscapeText(body, ""))
	return &TransportError{Message: msg, Err: &shipgate.Error{Code: codeForStatus(status), Message: msg}}
}

func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return errorFrom(resp.StatusCode, resp.Request.URL.String(), data, resp.Header.Get("Content-Type"))
}

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return shipgate.EINVALID
	case http.StatusUnauthorized:
		return shipgate.EUNAUTHORIZED
	case http.StatusForbidden:
		return shipgate.EFORBIDDEN
	case http.StatusNotFound:
		return shipgate.ENOTFOUND
	case http.StatusConflict:
		return shipgate.ECONFLICT
	case http.StatusPreconditionFailed:
		return shipgate.EFAILEDPRECONDITION
	case http.StatusRequestEntityTooLarge:
		return shipgate.ETOOLARGE
	}
	return shipgate.EINTERNAL
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// Whoami returns the user the token belongs to.
func (c *Client) Whoami(ctx context.Context) (*shipgate.User, error) {
	var u shipgate.User
	return &u, c.do(ctx, "GET", "/whoami", nil, nil, &u)
}

// OpenAPI returns the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.do(ctx, "GET", "/openapi.json", nil, nil, &raw)
}
