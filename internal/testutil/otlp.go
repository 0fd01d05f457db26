package testutil

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a span an OTLPReceiver got, with ids in hex.
type Span struct {
	Service              string // the resource's service.name
	Name                 string
	TraceID, ID, Parent  string
	Attrs                map[string]string
	Links                []SpanLink
	Error                bool
	Status               string
	StartNanos, EndNanos uint64
}

// SpanLink is a link of a Span.
type SpanLink struct{ TraceID, SpanID string }

// OTLPReceiver is an OTLP/HTTP traces endpoint (POST /v1/traces,
// protobuf) that keeps what it receives, for tests of exporters.
type OTLPReceiver struct {
	URL string
	mu  sync.Mutex
	got []Span
}

// NewOTLPReceiver starts a receiver, stopped when the test ends.
func NewOTLPReceiver(t testing.TB) *OTLPReceiver {
	rc := &OTLPReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// Spans returns a copy of every span received so far.
func (rc *OTLPReceiver) Spans() []Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Span(nil), rc.got...)
}

func (rc *OTLPReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = z
	}
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var spans []Span
	for _, rs := range req.ResourceSpans {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := Span{Service: service, Name: s.Name, TraceID: hex.EncodeToString(s.TraceId), ID: hex.EncodeToString(s.SpanId),
					Parent: hex.EncodeToString(s.ParentSpanId), Attrs: attrs(s.Attributes), StartNanos: s.StartTimeUnixNano, EndNanos: s.EndTimeUnixNano,
					Error: s.GetStatus().GetCode() == 2, Status: s.GetStatus().GetMessage()}
				for _, l := range s.Links {
					sp.Links = append(sp.Links, SpanLink{TraceID: hex.EncodeToString(l.TraceId), SpanID: hex.EncodeToString(l.SpanId)})
				}
				spans = append(spans, sp)
			}
		}
	}
	rc.mu.Lock()
	rc.got = append(rc.got, spans...)
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(x.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			if x.BoolValue {
				m[kv.Key] = "true"
			} else {
				m[kv.Key] = "false"
			}
		}
	}
	return m
}
