package evidence

import (
	"bytes"
	"fmt"
	"strings"
)

// parseSBOM reads an SPDX JSON or CycloneDX JSON document: how many
// components (packages) it lists, the licences they declare, and a one-line
// description.
func parseSBOM(data []byte) (map[string]any, error) {
	var probe struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, fmt.Errorf("an SBOM must be an SPDX JSON or CycloneDX JSON document (a JSON object)")
	}
	if err := decodeJSON(data, &probe); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(probe.SPDXVersion, "SPDX-"):
		return parseSPDX(data)
	case probe.BOMFormat == "CycloneDX":
		return parseCycloneDX(data)
	}
	return nil, fmt.Errorf(`neither SPDX JSON (spdxVersion "SPDX-2.x") nor CycloneDX JSON (bomFormat "CycloneDX")`)
}

func parseSPDX(data []byte) (map[string]any, error) {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Name        string `json:"name"`
		Packages    []struct {
			Name             string `json:"name"`
			LicenseConcluded string `json:"licenseConcluded"`
			LicenseDeclared  string `json:"licenseDeclared"`
		} `json:"packages"`
	}
	if err := decodeJSON(data, &doc); err != nil {
		return nil, err
	}
	licences := map[string]bool{}
	without := 0
	for i, p := range doc.Packages {
		if p.Name == "" {
			return nil, fmt.Errorf("packages[%d] has no name", i)
		}
		l := spdxLicence(p.LicenseConcluded)
		if l == "" {
			l = spdxLicence(p.LicenseDeclared)
		}
		if l == "" {
			without++
			continue
		}
		licences[l] = true
	}
	return sbomSummary("spdx", doc.SPDXVersion, doc.Name, len(doc.Packages), licences, without), nil
}

// spdxLicence is an SPDX licence expression, or "" for NOASSERTION/NONE.
func spdxLicence(s string) string {
	s = strings.TrimSpace(s)
	if s == "NOASSERTION" || s == "NONE" {
		return ""
	}
	return s
}

type cdxComponent struct {
	Name     string `json:"name"`
	Licenses []struct {
		License *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"license"`
		Expression string `json:"expression"`
	} `json:"licenses"`
	Components []cdxComponent `json:"components"`
}

func parseCycloneDX(data []byte) (map[string]any, error) {
	var doc struct {
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []cdxComponent `json:"components"`
	}
	if err := decodeJSON(data, &doc); err != nil {
		return nil, err
	}
	if doc.SpecVersion == "" {
		return nil, fmt.Errorf("CycloneDX document has no specVersion")
	}
	licences := map[string]bool{}
	count, without := 0, 0
	var walk func(cs []cdxComponent, path string) error
	walk = func(cs []cdxComponent, path string) error {
		for i, c := range cs {
			if c.Name == "" {
				return fmt.Errorf("%s[%d] has no name", path, i)
			}
			count++
			found := false
			for _, l := range c.Licenses {
				switch {
				case l.Expression != "":
					licences[l.Expression], found = true, true
				case l.License != nil && l.License.ID != "":
					licences[l.License.ID], found = true, true
				case l.License != nil && l.License.Name != "":
					licences[l.License.Name], found = true, true
				}
			}
			if !found {
				without++
			}
			if err := walk(c.Components, fmt.Sprintf("%s[%d].components", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.Components, "components"); err != nil {
		return nil, err
	}
	return sbomSummary("cyclonedx", "CycloneDX-"+doc.SpecVersion, doc.Metadata.Component.Name, count, licences, without), nil
}

func sbomSummary(format, version, name string, components int, licences map[string]bool, without int) map[string]any {
	desc := fmt.Sprintf("%s: %d components, %d licences", clipText(version), components, len(licences))
	if name != "" {
		desc = fmt.Sprintf("%s %q: %d components, %d licences", clipText(version), clipText(name), components, len(licences))
	}
	if without > 0 {
		desc += fmt.Sprintf(", %d components without a licence", without)
	}
	listed, truncated := sortedKeys(licences)
	sum := map[string]any{
		"format":                     format,
		"spec_version":               clipText(version),
		"components":                 components,
		"licenses":                   listed,
		"license_count":              len(licences),
		"components_without_license": without,
		"description":                desc,
	}
	if truncated {
		sum["licenses_truncated"] = true
	}
	return sum
}
