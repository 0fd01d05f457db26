package analysis

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate"
)

func TestHTTPMetric(t *testing.T) {
	doc := `{"data": {"error_rate": 0.012, "count": "42", "ratio": " 1e-3 ", "ok": true, "down": false,
		"name": "web", "none": null, "nested": {"x": 1}, "big": 1e400},
		"items": [{"value": 7}, {"value": -2.5}], "list": [1, "2", true], "mixed": [1, {"a": 1}], "empty": []}`
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, doc)
		case "/number":
			fmt.Fprint(w, "0.5")
		case "/down":
			http.Error(w, `{"error":"backend down"}`, http.StatusServiceUnavailable)
		case "/html":
			fmt.Fprint(w, "<html>hello</html>")
		case "/two":
			fmt.Fprint(w, `{"a":1} {"a":2}`)
		case "/huge":
			fmt.Fprintf(w, `{"a": 1, "pad": "%s"}`, strings.Repeat("x", 1<<20))
		case "/slow":
			<-r.Context().Done()
		}
	}))
	defer srv.Close()

	tests := []struct {
		path, jsonPath string
		want           []float64
		err            string
	}{
		{"/metrics", "data.error_rate", []float64{0.012}, ""},
		{"/metrics", "$.data.error_rate", []float64{0.012}, ""},
		{"/metrics", "items[0].value", []float64{7}, ""},
		{"/metrics", "$.items[1].value", []float64{-2.5}, ""},
		{"/metrics", "data.count", []float64{42}, ""},
		{"/metrics", "data.ratio", []float64{0.001}, ""},
		{"/metrics", "data.ok", []float64{1}, ""},
		{"/metrics", "data.down", []float64{0}, ""},
		{"/metrics", "list", []float64{1, 2, 1}, ""},
		{"/metrics", "empty", []float64{}, ""},
		{"/number", "$", []float64{0.5}, ""},
		{"/metrics", "data.errors", nil, `json_path "data.errors": $.data has no key "errors" (it has "big", "count", "down", "error_rate"`},
		{"/metrics", "items[2].value", nil, "$.items[2] is out of range: $.items has 2 elements"},
		{"/metrics", "data.error_rate.x", nil, `$.data.error_rate is a number, not an object with key "x"`},
		{"/metrics", "data[0]", nil, "$.data is an object, not an array to index [0]"},
		{"/metrics", "data.name", nil, `the value is the string "web", not a number`},
		{"/metrics", "data.none", nil, "the value is null, not a number"},
		{"/metrics", "data.nested", nil, "the value is an object, not a number"},
		{"/metrics", "data.big", nil, "the number 1e400 is out of range"},
		{"/metrics", "mixed", nil, "element [1]: the value is an object"},
		{"/down", "a", nil, `answered HTTP 503: {"error":"backend down"}`},
		{"/html", "a", nil, "the answer is not JSON"},
		{"/two", "a", nil, "data after its JSON document"},
		{"/huge", "a", nil, "larger than 1 MiB"},
		{"/slow", "a", nil, "no answer within 50ms"},
	}
	for _, tt := range tests {
		// Only /slow is about the timeout; the others get a generous one,
		// so a loaded machine (1 MiB under -race) does not time them out.
		timeout := 10 * time.Second
		if tt.path == "/slow" {
			timeout = 50 * time.Millisecond
		}
		p, err := NewProvider(shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{
			URL: srv.URL + tt.path, JSONPath: tt.jsonPath, Timeout: shipgate.Duration(timeout),
			Headers: map[string]string{"Authorization": "Bearer s3cret"},
		}}, nil, srv.Client())
		if err != nil {
			t.Fatalf("%s %s: %v", tt.path, tt.jsonPath, err)
		}
		got, err := p.Measure(context.Background())
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %s: %v, %v; want error containing %q", tt.path, tt.jsonPath, got, err, tt.err)
			} else if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a header value", err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) || got == nil {
			t.Errorf("%s %s: %v, %v; want %v", tt.path, tt.jsonPath, got, err, tt.want)
		}
		if gotAuth != "Bearer s3cret" {
			t.Errorf("header not sent: %q", gotAuth)
		}
	}

	// Unreachable is an error, with the password kept out of it.
	p, _ := NewProvider(shipgate.MetricProvider{HTTP: &shipgate.HTTPMetric{URL: "http://u:pw@" + closedAddr(t) + "/x", JSONPath: "a"}}, nil, nil)
	if _, err := p.Measure(context.Background()); err == nil || strings.Contains(err.Error(), "pw@") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("unreachable: %v", err)
	}
}
