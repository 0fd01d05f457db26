package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shipgate/shipgate"
)

// EvidenceFile is a file to attach to a release.
type EvidenceFile struct {
	// Type is sbom, signature, coverage, scan, tests or file.
	Type string
	// Name is the item's name, usually the file's base name.
	Name    string
	Content []byte
}

// AddEvidence attaches a file to release id. added is false when the
// release already had these bytes as this type: e is then the item
// attached before.
func (c *Client) AddEvidence(ctx context.Context, id int64, f EvidenceFile) (e *shipgate.Evidence, added bool, err error) {
	q := url.Values{"type": {f.Type}, "name": {f.Name}}
	return c.sendEvidence(ctx, "/releases/"+itoa(id)+"/evidence", q, f.Content)
}

// AddEvidenceLink attaches a link (manual evidence: a ticket, a report) to
// release id.
func (c *Client) AddEvidenceLink(ctx context.Context, id int64, rawURL, title string) (e *shipgate.Evidence, added bool, err error) {
	q := url.Values{"type": {"link"}, "url": {rawURL}, "title": {title}}
	return c.sendEvidence(ctx, "/releases/"+itoa(id)+"/evidence", q, nil)
}

// ListEvidence lists the evidence of release id, oldest first.
func (c *Client) ListEvidence(ctx context.Context, id int64) ([]shipgate.Evidence, error) {
	var out []shipgate.Evidence
	return out, c.do(ctx, "GET", "/releases/"+itoa(id)+"/evidence", nil, nil, &out)
}

// Evidence returns one evidence item.
func (c *Client) Evidence(ctx context.Context, id int64) (*shipgate.Evidence, error) {
	var out shipgate.Evidence
	return &out, c.do(ctx, "GET", "/evidence/"+itoa(id), nil, nil, &out)
}

// EvidenceContent opens the stored bytes of evidence item id; the caller
// closes it. The reader fails at EOF if the bytes are not those of the
// item's digest.
func (c *Client) EvidenceContent(ctx context.Context, id int64) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", "/evidence/"+itoa(id)+"/content", nil, nil, "")
	if err != nil {
		return nil, err
	}
	return &checkedReader{rc: resp.Body, h: sha256.New(), want: resp.Header.Get("X-Evidence-SHA256")}, nil
}

// checkedReader fails at EOF when what it read does not hash to want.
type checkedReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.want {
			return n, fmt.Errorf("evidence download has sha256 %s, not %s: it was cut short or changed on the way", got, r.want)
		}
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.rc.Close() }

// AttachEvidence attaches a file a step of a held attempt produced (the
// runner's EvidenceAttacher over HTTP).
func (a *Agent) AttachEvidence(ctx context.Context, _ string, key shipgate.AttemptKey, typ, name string, content []byte) (shipgate.Evidence, bool, error) {
	// A file of up to 32 MiB takes longer than a report; a minute more
	// than other calls is still a bound.
	ctx, cancel := a.timeout(ctx, time.Minute)
	defer cancel()
	q := url.Values{"release": {itoa(key.ReleaseID)}, "run": {strconv.Itoa(key.Run)}, "job": {key.Job}, "attempt": {strconv.Itoa(key.Attempt)}, "type": {typ}, "name": {name}}
	e, added, err := a.c.sendEvidence(ctx, "/agent/evidence", q, content)
	if err != nil {
		return shipgate.Evidence{}, false, err
	}
	return *e, added, nil
}

func (c *Client) sendEvidence(ctx context.Context, path string, q url.Values, content []byte) (*shipgate.Evidence, bool, error) {
	resp, err := c.send(ctx, "POST", path, q, content, "application/octet-stream")
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	var e shipgate.Evidence
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, false, fmt.Errorf("read response: %w", err)
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return nil, false, notShipgate(c.BaseURL, resp.StatusCode, resp.Header.Get("Content-Type"), nil)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, false, notShipgate(c.BaseURL, resp.StatusCode, resp.Header.Get("Content-Type"), fmt.Errorf("decode response of POST %s: %w", path, err))
	}
	return &e, resp.StatusCode == http.StatusCreated, nil
}

// send makes a request with a raw body and returns a successful response
// for the caller to read and close; a failing one becomes an error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte, contentType string) (*http.Response, error) {
	if err := checkBaseURL(c.BaseURL); err != nil {
		return nil, err
	}
	u := c.BaseURL + "/api/v1" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" && body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", c.UserAgent)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		if te := transportError(c.BaseURL, err); te != nil {
			return nil, te
		}
		return nil, fmt.Errorf("cannot reach shipgate server at %s: %w", RedactURL(c.BaseURL), err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}
