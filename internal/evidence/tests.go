package evidence

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
)

// parseJUnit counts the <testcase> elements of a JUnit XML report, at any
// depth under <testsuites> or <testsuite>: failed (a <failure> or <error>
// child), skipped (a <skipped> child) or passed.
func parseJUnit(data []byte) (map[string]any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var passed, failed, skipped, errored int
	depth := 0
	inCase := false
	caseDepth := 0
	var outcome string
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmlErr(d, data, err, "")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if !sawRoot {
				sawRoot = true
				if t.Name.Local != "testsuites" && t.Name.Local != "testsuite" {
					return nil, lineErr(xmlLine(d, data), "the root element is <%s>, not JUnit's <testsuites> or <testsuite>", t.Name.Local)
				}
			}
			switch {
			case t.Name.Local == "testcase" && !inCase:
				inCase, caseDepth, outcome = true, depth, "passed"
			case inCase && depth == caseDepth+1:
				switch t.Name.Local {
				case "failure":
					outcome = "failed"
				case "error":
					if outcome != "failed" {
						outcome = "error"
					}
				case "skipped":
					if outcome == "passed" {
						outcome = "skipped"
					}
				}
			}
		case xml.EndElement:
			if inCase && depth == caseDepth {
				inCase = false
				switch outcome {
				case "failed":
					failed++
				case "error":
					failed++
					errored++
				case "skipped":
					skipped++
				default:
					passed++
				}
			}
			depth--
		}
	}
	if !sawRoot {
		return nil, fmt.Errorf("no <testsuites> or <testsuite> element")
	}
	return map[string]any{"passed": passed, "failed": failed, "skipped": skipped, "errors": errored, "total": passed + failed + skipped}, nil
}
