package evidence

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// parseCoverage reads a Go coverprofile, a Cobertura XML report or an
// Istanbul json-summary, told apart by their first bytes, into line_percent
// (0–100, two decimals) and the counts it comes from.
func parseCoverage(data []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("mode:")):
		return parseCoverprofile(data)
	case bytes.HasPrefix(trimmed, []byte("<")):
		return parseCobertura(data)
	case bytes.HasPrefix(trimmed, []byte("{")):
		return parseIstanbul(data)
	}
	return nil, fmt.Errorf("not a Go coverprofile (mode: …), Cobertura XML or Istanbul json-summary")
}

// parseCoverprofile computes what `go tool cover -func` prints as total:
// covered statements over all statements. A block listed more than once
// (several test binaries, -coverpkg) counts once, covered if any run
// covered it.
func parseCoverprofile(data []byte) (map[string]any, error) {
	type block struct{ stmts, count int64 }
	blocks := map[string]block{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			mode, ok := strings.CutPrefix(text, "mode:")
			mode = strings.TrimSpace(mode)
			if !ok || (mode != "set" && mode != "count" && mode != "atomic") {
				return nil, lineErr(line, "want mode: set, count or atomic, got %q", text)
			}
			continue
		}
		if text == "" {
			continue
		}
		// file.go:12.34,15.2 3 1
		colon := strings.LastIndex(text, ":")
		fields := strings.Fields(text[colon+1:])
		if colon <= 0 || len(fields) != 3 || !strings.Contains(fields[0], ",") {
			return nil, lineErr(line, "want file:line.col,line.col statements count, got %q", clip(text))
		}
		stmts, err1 := strconv.ParseInt(fields[1], 10, 64)
		count, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil || stmts < 0 || count < 0 {
			return nil, lineErr(line, "statement and hit counts must be whole numbers, got %q", clip(text))
		}
		key := text[:colon] + ":" + fields[0]
		b, seen := blocks[key]
		if !seen {
			order = append(order, key)
			b.stmts = stmts
		}
		b.count = max(b.count, count)
		blocks[key] = b
	}
	if err := sc.Err(); err != nil {
		return nil, lineErr(line+1, "%v", err)
	}
	if line == 0 {
		return nil, fmt.Errorf("empty coverprofile")
	}
	var total, covered int64
	for _, k := range order {
		b := blocks[k]
		total += b.stmts
		if b.count > 0 {
			covered += b.stmts
		}
	}
	return coverageSummary("go", covered, total), nil
}

func coverageSummary(format string, covered, total int64) map[string]any {
	pct := 0.0
	if total > 0 {
		pct = round2(100 * float64(covered) / float64(total))
	}
	return map[string]any{"format": format, "line_percent": pct, "lines_covered": covered, "lines_total": total}
}

// parseCobertura reads the root <coverage> element's lines-covered and
// lines-valid (line-rate when they are missing).
func parseCobertura(data []byte) (map[string]any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, xmlErr(d, data, err, "no <coverage> element")
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local != "coverage" {
			return nil, lineErr(xmlLine(d, data), "the root element is <%s>, not Cobertura's <coverage>", se.Name.Local)
		}
		attrs := map[string]string{}
		for _, a := range se.Attr {
			attrs[a.Name.Local] = a.Value
		}
		line := xmlLine(d, data)
		// The whole document must be well formed, not just its start.
		if err := d.Skip(); err != nil {
			return nil, xmlErr(d, data, err, "")
		}
		covered, errC := strconv.ParseInt(attrs["lines-covered"], 10, 64)
		valid, errV := strconv.ParseInt(attrs["lines-valid"], 10, 64)
		if errC == nil && errV == nil && covered >= 0 && valid >= covered {
			return coverageSummary("cobertura", covered, valid), nil
		}
		rate, err := strconv.ParseFloat(attrs["line-rate"], 64)
		if err != nil || !(rate >= 0 && rate <= 1) { // NaN too
			return nil, lineErr(line, "<coverage> needs lines-covered and lines-valid, or a line-rate between 0 and 1")
		}
		return map[string]any{"format": "cobertura", "line_percent": round2(100 * rate)}, nil
	}
}

// parseIstanbul reads total.lines of an Istanbul (nyc, jest, vitest)
// json-summary.
func parseIstanbul(data []byte) (map[string]any, error) {
	var doc struct {
		Total *struct {
			Lines *struct {
				Total   *int64          `json:"total"`
				Covered *int64          `json:"covered"`
				Pct     json.RawMessage `json:"pct"`
			} `json:"lines"`
		} `json:"total"`
	}
	if err := decodeJSON(data, &doc); err != nil {
		return nil, err
	}
	if doc.Total == nil || doc.Total.Lines == nil || doc.Total.Lines.Total == nil || doc.Total.Lines.Covered == nil {
		return nil, fmt.Errorf("an Istanbul json-summary needs total.lines.total and total.lines.covered")
	}
	t, c := *doc.Total.Lines.Total, *doc.Total.Lines.Covered
	if t < 0 || c < 0 || c > t {
		return nil, fmt.Errorf("total.lines: covered %d of %d lines is impossible", c, t)
	}
	return coverageSummary("istanbul", c, t), nil
}

// xmlErr words a decoder error with its line; io.EOF before the element
// wanted becomes missing.
func xmlErr(d *xml.Decoder, data []byte, err error, missing string) error {
	if se, ok := err.(*xml.SyntaxError); ok {
		return lineErr(se.Line, "%s", se.Msg)
	}
	if err.Error() == "EOF" && missing != "" {
		return fmt.Errorf("%s", missing)
	}
	return lineErr(xmlLine(d, data), "%v", err)
}

// xmlLine is the line the decoder has read up to.
func xmlLine(d *xml.Decoder, data []byte) int {
	return lineAt(data, d.InputOffset())
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
