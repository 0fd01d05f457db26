package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
)

// maxHTTPMetricBody bounds the JSON document an HTTP metric reads.
const maxHTTPMetricBody = 1 << 20

// httpMetric GETs a JSON document and reads numbers at a path.
type httpMetric struct {
	url     string
	shown   string // URL for messages, without a password
	path    string
	steps   []shipgate.PathStep // nil: the whole document ("$")
	headers map[string]string
	timeout time.Duration
	client  *http.Client
}

func newHTTPMetric(m shipgate.HTTPMetric, client *http.Client) (*httpMetric, error) {
	u, err := url.Parse(m.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http metric url %q must be an http:// or https:// URL", m.URL)
	}
	p := &httpMetric{url: m.URL, shown: u.Redacted(), path: m.JSONPath, headers: m.Headers, timeout: timeoutOr(m.Timeout), client: client}
	if p.steps, err = shipgate.ParseJSONPath(m.JSONPath); err != nil {
		return nil, fmt.Errorf("http metric: %w", err)
	}
	for k := range m.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return nil, fmt.Errorf("http metric header name %q is not valid", k)
		}
	}
	return p, nil
}

// Measure GETs the document (2xx required) and returns the value at the
// path: a number, a numeric string, true/false (1/0), or an array of those
// (all its values). Header values never appear in errors.
func (h *httpMetric) Measure(ctx context.Context) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", h.shown, err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: no answer within %s", h.shown, h.timeout)
		}
		return nil, fmt.Errorf("GET %s: %w", h.shown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPMetricBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the answer: %w", h.shown, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s answered HTTP %d: %s", h.shown, resp.StatusCode, snippet(body))
	}
	if len(body) > maxHTTPMetricBody {
		return nil, fmt.Errorf("GET %s: the answer is larger than 1 MiB", h.shown)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("GET %s: the answer is not JSON (%v): %s", h.shown, err, snippet(body))
	}
	if dec.More() {
		return nil, fmt.Errorf("GET %s: the answer has data after its JSON document", h.shown)
	}
	v, err := walkJSON(doc, h.steps)
	if err != nil {
		return nil, fmt.Errorf("GET %s: json_path %q: %w", h.shown, h.path, err)
	}
	values, err := jsonNumbers(v)
	if err != nil {
		return nil, fmt.Errorf("GET %s: json_path %q: %w", h.shown, h.path, err)
	}
	return values, nil
}

// walkJSON follows steps, saying where the document doesn't have them.
func walkJSON(v any, steps []shipgate.PathStep) (any, error) {
	at := "$"
	for _, s := range steps {
		if s.IsKey {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an object with key %q", at, jsonKind(v), s.Key)
			}
			next, ok := m[s.Key]
			if !ok {
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, strconv.Quote(k))
				}
				sort.Strings(keys)
				if len(keys) > 10 {
					keys = append(keys[:10], "…")
				}
				return nil, fmt.Errorf("%s has no key %q (it has %s)", at, s.Key, orNone(strings.Join(keys, ", ")))
			}
			v, at = next, at+"."+s.Key
			continue
		}
		a, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s is %s, not an array to index [%d]", at, jsonKind(v), s.Index)
		}
		if s.Index >= len(a) {
			return nil, fmt.Errorf("%s[%d] is out of range: %s has %s", at, s.Index, at, plural(len(a), "element"))
		}
		v, at = a[s.Index], fmt.Sprintf("%s[%d]", at, s.Index)
	}
	return v, nil
}

func orNone(s string) string {
	if s == "" {
		return "no keys"
	}
	return s
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// jsonNumbers turns the value found into the measurement's values.
func jsonNumbers(v any) ([]float64, error) {
	if a, ok := v.([]any); ok {
		out := make([]float64, 0, len(a))
		for i, e := range a {
			f, err := jsonNumber(e)
			if err != nil {
				return nil, fmt.Errorf("element [%d]: %w", i, err)
			}
			out = append(out, f)
		}
		return out, nil
	}
	f, err := jsonNumber(v)
	if err != nil {
		return nil, err
	}
	return []float64{f}, nil
}

func jsonNumber(v any) (float64, error) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(v.String(), 64)
		if err != nil {
			return 0, fmt.Errorf("the number %s is out of range", v)
		}
		return f, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("the value is the string %q, not a number", snippet([]byte(v)))
		}
		return f, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("the value is %s, not a number", jsonKind(v))
}
