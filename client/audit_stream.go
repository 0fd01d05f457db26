package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate"
)

// errNoAuditStream means the server predates GET /audit/stream; the
// caller pages through GET /audit instead.
var errNoAuditStream = errors.New("the server has no audit stream")

// maxAuditLine bounds one line of the stream (an event with its details).
const maxAuditLine = 64 << 20

// streamAudit reads GET /audit/stream and calls fn for each event, in seq
// order, up to the head the server read first. The event passed to fn is
// reused for the next line; fn must copy what it keeps. A stream that ends
// without its end line, or whose end line does not match what arrived, is
// an error: a cut stream never passes for a whole one.
func (c *Client) streamAudit(ctx context.Context, f shipgate.AuditFilter, fn func(e *shipgate.AuditEvent) error) (headSeq int64, headHash string, err error) {
	if err := checkBaseURL(c.BaseURL); err != nil {
		return 0, "", err
	}
	q := auditQuery(f)
	u := c.BaseURL + "/api/v1/audit/stream"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	// The whole chain is one response, which may take longer than the
	// client's Timeout for one call: that bound becomes one on silence
	// instead (no byte for idle), so a long stream that keeps moving is
	// not cut and a stalled one still ends.
	hc := *c.HTTPClient
	idle := streamIdleTimeout
	if hc.Timeout > 0 && hc.Timeout < idle {
		idle = hc.Timeout
	}
	hc.Timeout = 0
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	timer := time.AfterFunc(idle, func() { stalled.Store(true); cancel() })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("User-Agent", c.UserAgent)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if stalled.Load() {
			return 0, "", fmt.Errorf("the shipgate server at %s did not answer the audit stream within %s", RedactURL(c.BaseURL), idle)
		}
		if te := transportError(c.BaseURL, err); te != nil {
			return 0, "", te
		}
		return 0, "", fmt.Errorf("cannot reach shipgate server at %s: %w", RedactURL(c.BaseURL), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		err := decodeError(resp)
		var se *shipgate.Error
		if resp.StatusCode == http.StatusNotFound && errors.As(err, &se) && se.Code == shipgate.ENOTFOUND {
			return 0, "", errNoAuditStream // a server from before the stream
		}
		return 0, "", err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-ndjson" {
		return 0, "", notShipgate(c.BaseURL, resp.StatusCode, resp.Header.Get("Content-Type"), nil)
	}
	headSeq, headHash, err = readAuditStream(&idleReader{r: resp.Body, t: timer, d: idle}, fn)
	if err != nil && stalled.Load() {
		err = fmt.Errorf("%w; the server sent nothing for %s", err, idle)
	}
	return headSeq, headHash, err
}

// streamIdleTimeout is how long the audit stream may send nothing.
const streamIdleTimeout = 2 * time.Minute

// idleReader pushes back its timer each time bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.t.Reset(i.d)
	}
	return n, err
}

// readAuditStream reads the lines of an audit stream (see streamAudit).
func readAuditStream(body io.Reader, fn func(e *shipgate.AuditEvent) error) (headSeq int64, headHash string, err error) {
	br := bufio.NewReaderSize(body, 256<<10)
	var long []byte
	next := func() ([]byte, error) {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				if len(long) > maxAuditLine {
					return nil, fmt.Errorf("a line of the audit stream is longer than %d bytes", maxAuditLine)
				}
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			return nil, err
		}
		return line[:len(line)-1], nil
	}
	cut := func(after string, err error) error {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("the audit stream ended %s without its end line, so it proves nothing (cut off: %w)", after, err)
	}
	line, err := next()
	if err != nil {
		return 0, "", cut("before its head", err)
	}
	var head struct {
		Head *struct {
			Seq  int64  `json:"seq"`
			Hash string `json:"hash"`
		} `json:"head"`
	}
	if err := json.Unmarshal(line, &head); err != nil || head.Head == nil {
		return 0, "", fmt.Errorf("the audit stream does not start with its head: %q", clipLine(line))
	}
	headSeq, headHash = head.Head.Seq, head.Head.Hash
	var e shipgate.AuditEvent
	var d auditLineDecoder
	var n, last int64
	for {
		line, err := next()
		if err != nil {
			return headSeq, headHash, cut(fmt.Sprintf("after %d events (the last of seq %d)", n, last), err)
		}
		switch {
		case bytes.HasPrefix(line, []byte(`{"seq":`)):
			if err := d.decode(line, &e); err != nil {
				return headSeq, headHash, fmt.Errorf("audit chain broken after seq %d: the next event of the stream cannot be read: %v", last, err)
			}
			n++
			last = e.Seq
			if err := fn(&e); err != nil {
				return headSeq, headHash, err
			}
		case bytes.HasPrefix(line, []byte(`{"end":`)):
			var end struct {
				End *struct {
					Events  int64 `json:"events"`
					LastSeq int64 `json:"last_seq"`
				} `json:"end"`
			}
			if err := json.Unmarshal(line, &end); err != nil || end.End == nil {
				return headSeq, headHash, fmt.Errorf("the audit stream's end line cannot be read: %q", clipLine(line))
			}
			if end.End.Events != n || (n > 0 && end.End.LastSeq != last) {
				return headSeq, headHash, fmt.Errorf("the audit stream says it sent %d events up to seq %d, but %d arrived up to seq %d", end.End.Events, end.End.LastSeq, n, last)
			}
			if extra, err := next(); err != io.EOF {
				return headSeq, headHash, fmt.Errorf("the audit stream goes on after its end line: %q", clipLine(extra))
			}
			return headSeq, headHash, nil
		case bytes.HasPrefix(line, []byte(`{"error":`)):
			var e apiError
			if json.Unmarshal(line, &e) == nil && e.Error.Code != "" {
				return headSeq, headHash, &shipgate.Error{Code: e.Error.Code, Message: "the audit stream failed after seq " + strconv.FormatInt(last, 10) + ": " + e.Error.Message}
			}
			return headSeq, headHash, fmt.Errorf("the audit stream failed after seq %d: %q", last, clipLine(line))
		default:
			// An event in another key order, or with spaces: decode it
			// the slow way.
			if err := d.decode(line, &e); err != nil {
				return headSeq, headHash, fmt.Errorf("audit chain broken after seq %d: the next line of the stream is neither an event nor its end: %q", last, clipLine(line))
			}
			n++
			last = e.Seq
			if err := fn(&e); err != nil {
				return headSeq, headHash, err
			}
		}
	}
}

func clipLine(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
