package main

import (
	"io"
	"reflect"
	"sync"
	"unicode/utf8"

	"github.com/shipgate/shipgate"
)

// What the CLI prints comes largely from the server: versions, reasons,
// names, comments, job logs. Data stored before the server refused control
// and invisible characters, or sent by a server we do not control, must
// never reach a terminal raw, where ESC sequences can recolour, hide, move
// the cursor and rewrite lines, CR can overwrite what was printed, and a
// zero-width space makes shipgate\u200b.local read as shipgate.local. Two
// layers:
//
//   - every byte the process writes to stdout and stderr passes a
//     termWriter, which escapes all such characters except the newlines
//     and tabs that lay the output out;
//   - the values a text printer formats are scrubbed first (render and
//     release wait), so a newline or tab inside a field cannot start a
//     fake line or shift a table's columns either.
//
// JSON output passes the termWriter unchanged in meaning: the encoder
// already escapes C0 controls, and the non-ASCII ones the termWriter
// escapes come out as \u and four hex digits, the same character in a JSON string.

// termWriter escapes, on its way to w, every character that changes how
// text is shown rather than what it says or shows as nothing (see
// shipgate.UnsafeRune and shipgate.EscapeText), except newline and tab. It is safe for concurrent use; a UTF-8 sequence cut
// by the end of one Write is completed by the next.
type termWriter struct {
	mu    sync.Mutex
	w     io.Writer
	carry []byte
}

// terminal wraps w in a termWriter, once.
func terminal(w io.Writer) *termWriter {
	if t, ok := w.(*termWriter); ok {
		return t
	}
	return &termWriter{w: w}
}

// Write escapes p and writes it; it reports all of p written when the
// escaped text was.
func (t *termWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := p
	if len(t.carry) > 0 {
		buf = append(t.carry, p...)
		t.carry = nil
	}
	cut := len(buf) - incompleteRune(buf)
	if cut < len(buf) {
		t.carry = append([]byte(nil), buf[cut:]...)
	}
	if _, err := io.WriteString(t.w, shipgate.EscapeText(string(buf[:cut]), "\n\t")); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out a trailing incomplete UTF-8 sequence, escaped: the
// stream ended without the rest of it.
func (t *termWriter) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.carry) == 0 {
		return nil
	}
	s := shipgate.EscapeText(string(t.carry), "")
	t.carry = nil
	_, err := io.WriteString(t.w, s)
	return err
}

// incompleteRune is the length of the start of a UTF-8 sequence at the end
// of b that more bytes could complete, or 0.
func incompleteRune(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return 0
			}
			return len(b) - i
		}
	}
	return 0
}

// scrub escapes, in place, every unsafe character — newlines and tabs
// included — in the strings reachable from v through pointers, exported
// struct fields, slices, arrays, maps and interfaces, so that each field
// prints as one line of text. Byte slices (json.RawMessage) are left
// alone: summarize reads those. Values that cannot be changed in place
// (v itself passed by value) are left as they are.
func scrub(v any) {
	s := scrubber{seen: map[uintptr]bool{}}
	s.value(reflect.ValueOf(v))
}

type scrubber struct{ seen map[uintptr]bool }

func (s scrubber) value(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || s.seen[v.Pointer()] {
			return
		}
		s.seen[v.Pointer()] = true
		s.value(v.Elem())
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		c := s.copyOf(v.Elem())
		v.Set(c)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				s.value(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			s.value(v.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			s.value(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			nk, nv := s.copyOf(k), s.copyOf(v.MapIndex(k))
			if !nk.Equal(k) {
				v.SetMapIndex(k, reflect.Value{})
			}
			v.SetMapIndex(nk, nv)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(shipgate.EscapeText(v.String(), ""))
		}
	}
}

// copyOf is a settable copy of v, scrubbed.
func (s scrubber) copyOf(v reflect.Value) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	s.value(c)
	return c
}
