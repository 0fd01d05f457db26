package evidence_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/evidence"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// norm round-trips a summary through JSON, as the store keeps it.
func norm(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseRealFormats(t *testing.T) {
	for _, tc := range []struct {
		typ, file string
		want      map[string]any
	}{
		{"sbom", "spdx.json", map[string]any{"format": "spdx", "spec_version": "SPDX-2.3", "components": 4, "components_without_license": 1, "license_count": 3,
			"licenses": []any{"Apache-2.0", "BSD-3-Clause", "MIT"}, "description": `SPDX-2.3 "shop-api": 4 components, 3 licences, 1 components without a licence`}},
		{"sbom", "cyclonedx.json", map[string]any{"format": "cyclonedx", "spec_version": "CycloneDX-1.5", "components": 4, "components_without_license": 1, "license_count": 3,
			"licenses": []any{"Custom licence", "MIT", "MIT OR Apache-2.0"}, "description": `CycloneDX-1.5 "shop-web": 4 components, 3 licences, 1 components without a licence`}},
		{"coverage", "coverage.out", map[string]any{"format": "go", "line_percent": 70.0, "lines_covered": 7, "lines_total": 10}},
		{"coverage", "cobertura.xml", map[string]any{"format": "cobertura", "line_percent": 85.0, "lines_covered": 34, "lines_total": 40}},
		{"coverage", "coverage-summary.json", map[string]any{"format": "istanbul", "line_percent": 75.0, "lines_covered": 150, "lines_total": 200}},
		{"scan", "scan.sarif", map[string]any{"critical": 1, "high": 2, "medium": 2, "low": 1, "total": 7, "tools": []any{"golangci-lint", "trivy"}}},
		{"tests", "junit.xml", map[string]any{"passed": 3, "failed": 2, "skipped": 1, "errors": 1, "total": 6}},
		{"file", "junit.xml", nil},
	} {
		t.Run(tc.file+"/"+tc.typ, func(t *testing.T) {
			got, err := evidence.Parse(tc.typ, tc.file, fixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if norm(t, got) != norm(t, tc.want) {
				t.Errorf("summary\n got %s\nwant %s", norm(t, got), norm(t, tc.want))
			}
		})
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, typ, data, want string
	}{
		{"junit-unclosed", "tests", "<testsuites>\n<testsuite>\n<testcase name=\"a\">\n</testsuite>\n", "junit-unclosed is not a valid tests file: line 4: element <testcase> closed by </testsuite>"},
		{"junit-root", "tests", "<?xml version=\"1.0\"?>\n<html></html>", "line 2: the root element is <html>, not JUnit's"},
		{"junit-empty", "tests", "", "no <testsuites> or <testsuite> element"},
		{"cobertura-broken", "coverage", "<coverage lines-valid=\"10\" lines-covered=\"5\">\n<packages>\n</coverage>", "line 3: element <packages> closed by </coverage>"},
		{"cobertura-rate", "coverage", "<coverage line-rate=\"7\"></coverage>", "line 1: <coverage> needs lines-covered and lines-valid, or a line-rate between 0 and 1"},
		{"cover-mode", "coverage", "mode: fast\n", "line 1: want mode: set, count or atomic"},
		{"cover-line", "coverage", "mode: set\na.go:1.1,2.2 1 1\nrubbish\n", "line 3: want file:line.col,line.col statements count"},
		{"cover-count", "coverage", "mode: set\na.go:1.1,2.2 x 1\n", "line 2: statement and hit counts must be whole numbers"},
		{"istanbul-missing", "coverage", "{\"total\": {}}", "needs total.lines.total and total.lines.covered"},
		{"istanbul-syntax", "coverage", "{\n\"total\": {\n\"lines\": ]\n}", "line 3: invalid character ']'"},
		{"coverage-unknown", "coverage", "hello", "not a Go coverprofile"},
		{"sarif-version", "scan", `{"version": "1.0.0", "runs": []}`, `SARIF version "1.0.0" is not supported`},
		{"sarif-runs", "scan", `{"version": "2.1.0"}`, "needs version and runs"},
		{"sarif-type", "scan", "{\"version\": \"2.1.0\",\n \"runs\": {}}", "line 2: runs has the wrong type"},
		{"sarif-ruleindex", "scan", `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleIndex": 3}]}]}`, "runs[0].results[0].ruleIndex 3 names no rule"},
		{"sarif-severity", "scan", `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"properties": {"security-severity": "high"}}]}]}`, `security-severity "high" is not a number`},
		// NaN compares false with every bound: an error-level finding
		// scored "NaN" was counted low, a line-rate of NaN stored as
		// -92233720368547760 %.
		{"sarif-nan", "scan", `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "error", "properties": {"security-severity": "NaN"}}]}]}`, `security-severity NaN is outside 0–10`},
		{"cobertura-nan", "coverage", "<coverage line-rate=\"NaN\"></coverage>", "line 1: <coverage> needs lines-covered and lines-valid, or a line-rate between 0 and 1"},
		{"sbom-neither", "sbom", `{"name": "x"}`, "neither SPDX JSON"},
		{"sbom-text", "sbom", "SPDXVersion: SPDX-2.3\n", "must be an SPDX JSON or CycloneDX JSON document"},
		{"sbom-nameless", "sbom", `{"spdxVersion": "SPDX-2.3", "packages": [{"SPDXID": "x"}]}`, "packages[0] has no name"},
		{"cdx-nested", "sbom", `{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a", "components": [{}]}]}`, "components[0].components[0] has no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evidence.Parse(tc.typ, tc.name, []byte(tc.data))
			if err == nil {
				t.Fatal("parsed; want refused")
			}
			if shipgate.ErrorCode(err) != shipgate.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (%s); want invalid containing %q", err, shipgate.ErrorCode(err), tc.want)
			}
		})
	}
}

func TestCheckTypeAndLinks(t *testing.T) {
	if err := evidence.CheckType("coverge"); err == nil || !strings.Contains(err.Error(), `unknown evidence type "coverge": use one of sbom, signature, coverage, scan, tests, link, file`) {
		t.Errorf("CheckType(coverge) = %v", err)
	}
	sum, err := evidence.ParseLink("https://tickets.example.com/CHG-42", "Change ticket")
	if err != nil || norm(t, sum) != `{"title":"Change ticket","url":"https://tickets.example.com/CHG-42"}` {
		t.Errorf("ParseLink = %v, %v", sum, err)
	}
	for _, tc := range []struct{ url, title, want string }{
		{"javascript:alert(1)", "x", "must be an absolute http or https URL"},
		{"file:///etc/passwd", "x", "must be an absolute http or https URL"},
		{"https://", "x", "must be an absolute http or https URL"},
		{"https://u:secret@example.com/x", "x", "carries credentials"},
		{"https://example.com/x", " ", "needs a title"},
		{"", "x", "needs a URL"},
		{"https://example.com/x", "a\nb", "control characters"},
	} {
		if _, err := evidence.ParseLink(tc.url, tc.title); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLink(%q, %q) = %v; want %q", tc.url, tc.title, err, tc.want)
		}
		if strings.Contains(tc.url, "secret") {
			if _, err := evidence.ParseLink(tc.url, tc.title); strings.Contains(err.Error(), "secret") {
				t.Errorf("the refusal repeats the password: %v", err)
			}
		}
	}
}

// A file cannot make its summary (stored with the item and in the audit
// log) arbitrarily large.
func TestSummaryBounded(t *testing.T) {
	var pkgs []string
	for i := range 150 {
		pkgs = append(pkgs, fmt.Sprintf(`{"name": "p%d", "licenseConcluded": "LicenseRef-%d-%s"}`, i, i, strings.Repeat("x", 300)))
	}
	doc := `{"spdxVersion": "SPDX-2.3", "name": "` + strings.Repeat("n", 1000) + `", "packages": [` + strings.Join(pkgs, ",") + `]}`
	sum, err := evidence.Parse("sbom", "big.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	lic := sum["licenses"].([]any)
	if len(lic) != evidence.MaxListed || sum["license_count"] != 150 || sum["licenses_truncated"] != true {
		t.Errorf("%d licences listed of %v, truncated %v", len(lic), sum["license_count"], sum["licenses_truncated"])
	}
	for _, l := range lic {
		if len(l.(string)) > evidence.MaxText+len("…") {
			t.Fatalf("a licence of %d bytes", len(l.(string)))
		}
	}
	if d := sum["description"].(string); len(d) > 3*evidence.MaxText {
		t.Errorf("description of %d bytes", len(d))
	}
}
