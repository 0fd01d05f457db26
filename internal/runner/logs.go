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

	mu      sync.Mutex
	pending []shipgate.LogChunk // not yet acknowledged, in seq order
	sent    int                 // leading chunks of pending sent at least once: never changed again
	bytes   int                 // size of pending
	dropped int                 // bytes dropped while pending was full
	ctx     context.Context
	seq     int64
	closed  bool

	kick chan struct{}
	done chan struct{}
	err  error
}

// maxPending bounds the output held while the server cannot be reached.
const maxPending = 16 << 20

// newShipper ships until closed and drained, or until ctx ends.
func newShipper(ctx context.Context, c Coordinator, runner string, key shipgate.AttemptKey, secrets []string, log *slog.Logger) *shipper {
	return &shipper{ctx: ctx, coord: c, runner: runner, key: key, masker: newMasker(secrets), log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// add queues text on stream, merging into the last unsent chunk when it can.
func (s *shipper) add(stream, text string) {
	text = strings.ReplaceAll(strings.ToValidUTF8(s.masker.mask(text), "\uFFFD"), "\x00", "\uFFFD")
	if text == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+len(text) > maxPending {
		s.dropped += len(text) // the server has been unreachable for long
		return
	}
	if s.dropped > 0 {
		s.push("system", fmt.Sprintf("[… %d bytes of output dropped while the server could not be reached …]\n", s.dropped))
		s.dropped = 0
	}
	// A chunk that was sent once is never changed: a resend must carry the
	// same seq with the same data, or the server's copy would silently
	// differ from what the step wrote.
	if n := len(s.pending); n > s.sent && s.pending[n-1].Stream == stream && len(s.pending[n-1].Data)+len(text) <= maxChunkData {
		s.pending[n-1].Data += text
		s.bytes += len(text)
		return
	}
	s.push(stream, text)
}

func (s *shipper) push(stream, text string) {
	s.seq++
	s.bytes += len(text)
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
	safe := len(text) - w.s.masker.holdback(text)
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
		s.sent = max(s.sent, n)
		closed := s.closed
		s.mu.Unlock()
		if len(batch) > 0 {
			err := s.coord.AppendLogs(context.WithoutCancel(s.ctx), s.runner, s.key, batch)
			if err == nil {
				s.mu.Lock()
				s.pending = s.pending[n:]
				s.sent -= n
				s.bytes -= size
				s.mu.Unlock()
				backoff = shipInterval
				continue // more may have arrived while sending
			}
			switch shipgate.ErrorCode(err) {
			case shipgate.ECONFLICT, shipgate.ENOTFOUND, shipgate.ETOOLARGE, shipgate.EINVALID, shipgate.EUNAUTHORIZED:
				s.err = fmt.Errorf("log shipping stopped: %w", err)
				s.log.Warn("log shipping stopped", "err", err)
				return
			}
			// Unreachable: keep the chunks and try again, for as long as
			// the runner runs.
			select {
			case <-s.ctx.Done():
				s.err = fmt.Errorf("log shipping stopped with the runner: %w", err)
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		if closed {
			return
		}
		select {
		case <-s.kick:
		case <-time.After(shipInterval):
		case <-s.ctx.Done():
			return
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
