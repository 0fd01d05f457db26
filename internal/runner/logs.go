package runner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
)

// Sizes that shape log chunks.
const (
	maxLineBuffer = 8 << 10   // a partial line longer than this is shipped as is
	maxChunkData  = 32 << 10  // chunks are merged up to this size
	maxBatch      = 256 << 10 // bytes of chunks per request
	shipInterval  = 250 * time.Millisecond
)

// shipper numbers an attempt's output into chunks and ships them in order,
// retrying until the server acknowledges them. The server ignores a chunk
// whose seq it has, so a retry after a lost response never duplicates.
type shipper struct {
	coord  Coordinator
	runner string
	key    shipgate.AttemptKey
	masker *masker
	log    *slog.Logger

	mu       sync.Mutex
	pending  []shipgate.LogChunk // not yet acknowledged, in seq order
	inflight int                 // how many of pending are being sent
	seq      int64
	closed   bool

	kick chan struct{}
	done chan struct{}
	err  error
}

func newShipper(c Coordinator, runner string, key shipgate.AttemptKey, secrets []string, log *slog.Logger) *shipper {
	return &shipper{coord: c, runner: runner, key: key, masker: newMasker(secrets), log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// add queues text on stream, merging into the last unsent chunk when it can.
func (s *shipper) add(stream, text string) {
	text = strings.ReplaceAll(strings.ToValidUTF8(s.masker.mask(text), "\uFFFD"), "\x00", "\uFFFD")
	if text == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.pending); n > s.inflight && s.pending[n-1].Stream == stream && len(s.pending[n-1].Data)+len(text) <= maxChunkData {
		s.pending[n-1].Data += text
		return
	}
	s.seq++
	s.pending = append(s.pending, shipgate.LogChunk{Job: s.key.Job, Attempt: s.key.Attempt, Seq: s.seq, Stream: stream, Data: text, At: time.Now().UTC()})
}

// flushLine queues one complete line.
func (s *shipper) flushLine(stream, line string) {
	s.add(stream, line+"\n")
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// writer returns a writer for a process stream. Output is masked before it
// is cut into chunks, and the tail that could be the start of a secret is
// held back until the next write shows whether it is; cuts fall at line
// ends where possible. flush ships what is left when the process ends.
func (s *shipper) writer(stream string) *lineWriter {
	return &lineWriter{s: s, stream: stream}
}

type lineWriter struct {
	mu     sync.Mutex
	s      *shipper
	stream string
	buf    string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf += string(p)
	w.emit()
	return len(p), nil
}

func (w *lineWriter) emit() {
	text := w.s.masker.mask(w.buf)
	safe := len(text) - w.s.masker.holdback()
	if safe <= 0 {
		w.buf = text
		return
	}
	cut := strings.LastIndexByte(text[:safe], '\n') + 1
	if cut == 0 {
		if safe <= maxLineBuffer {
			w.buf = text
			return
		}
		cut = safe
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut-- // never split a character
		}
	}
	if cut > 0 {
		w.s.add(w.stream, text[:cut])
	}
	w.buf = text[cut:]
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf != "" {
		text := w.s.masker.mask(w.buf)
		if !strings.HasSuffix(text, "\n") {
			text += "\n" // a last line without an end still ends the step
		}
		w.s.add(w.stream, text)
		w.buf = ""
	}
}

// run ships pending chunks until closed and drained.
func (s *shipper) run() {
	defer close(s.done)
	backoff := shipInterval
	failures := 0
	for {
		s.mu.Lock()
		// One request carries at most maxBatch bytes, well inside the
		// server's request size limit.
		n, size := 0, 0
		for n < len(s.pending) && (n == 0 || size+len(s.pending[n].Data) <= maxBatch) {
			size += len(s.pending[n].Data)
			n++
		}
		batch := append([]shipgate.LogChunk(nil), s.pending[:n]...)
		s.inflight = len(batch)
		closed := s.closed
		s.mu.Unlock()
		if len(batch) > 0 {
			err := s.coord.AppendLogs(context.Background(), s.runner, s.key, batch)
			s.mu.Lock()
			s.inflight = 0
			if err == nil {
				s.pending = s.pending[len(batch):]
				failures, backoff = 0, shipInterval
			}
			s.mu.Unlock()
			if err != nil {
				failures++
				code := shipgate.ErrorCode(err)
				if code == shipgate.ECONFLICT || code == shipgate.ENOTFOUND || code == shipgate.ETOOLARGE || failures > 20 {
					s.err = fmt.Errorf("log shipping stopped: %w", err)
					s.log.Warn("log shipping stopped", "err", err)
					return
				}
				time.Sleep(backoff)
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			continue // more may have arrived while sending
		}
		if closed {
			return
		}
		select {
		case <-s.kick:
		case <-time.After(shipInterval):
		}
	}
}

// close lets run drain what is queued and exit.
func (s *shipper) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// wait blocks until every chunk is shipped or shipping gave up.
func (s *shipper) wait(ctx context.Context) error {
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
