package evidence

import (
	"fmt"
	"strconv"
	"strings"
)

type sarifProps struct {
	SecuritySeverity any `json:"security-severity"`
}

// parseSARIF counts the results of a SARIF 2.1.0 log by severity. A
// result's severity is its security-severity score (the CVSS-like number
// GitHub code scanning and most scanners write, on the result or its rule:
// ≥9 critical, ≥7 high, ≥4 medium, else low); without one, its level
// (error high, warning medium, note low; none is counted only in total).
func parseSARIF(data []byte) (map[string]any, error) {
	var log struct {
		Version *string `json:"version"`
		Runs    *[]struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID                   string     `json:"id"`
						Properties           sarifProps `json:"properties"`
						DefaultConfiguration struct {
							Level string `json:"level"`
						} `json:"defaultConfiguration"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID     string     `json:"ruleId"`
				RuleIndex  *int       `json:"ruleIndex"`
				Level      string     `json:"level"`
				Properties sarifProps `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := decodeJSON(data, &log); err != nil {
		return nil, err
	}
	if log.Version == nil || log.Runs == nil {
		return nil, fmt.Errorf("a SARIF log needs version and runs")
	}
	if *log.Version != "2.1.0" {
		return nil, fmt.Errorf("SARIF version %q is not supported; want 2.1.0", *log.Version)
	}
	counts := map[string]int{"critical": 0, "high": 0, "medium": 0, "low": 0}
	total := 0
	tools := map[string]bool{}
	for ri, run := range *log.Runs {
		if run.Tool.Driver.Name != "" {
			tools[run.Tool.Driver.Name] = true
		}
		rules := map[string]int{}
		for i, r := range run.Tool.Driver.Rules {
			rules[r.ID] = i
		}
		for i, res := range run.Results {
			total++
			rule := -1
			if res.RuleIndex != nil {
				rule = *res.RuleIndex
				if rule < 0 || rule >= len(run.Tool.Driver.Rules) {
					return nil, fmt.Errorf("runs[%d].results[%d].ruleIndex %d names no rule", ri, i, rule)
				}
			} else if j, ok := rules[res.RuleID]; ok {
				rule = j
			}
			score, ok, err := securitySeverity(res.Properties.SecuritySeverity)
			if err != nil {
				return nil, fmt.Errorf("runs[%d].results[%d]: %v", ri, i, err)
			}
			level := res.Level
			if rule >= 0 {
				r := run.Tool.Driver.Rules[rule]
				if !ok {
					if score, ok, err = securitySeverity(r.Properties.SecuritySeverity); err != nil {
						return nil, fmt.Errorf("runs[%d].tool.driver.rules[%d]: %v", ri, rule, err)
					}
				}
				if level == "" {
					level = r.DefaultConfiguration.Level
				}
			}
			if sev := severity(score, ok, level); sev != "" {
				counts[sev]++
			}
		}
	}
	listed, _ := sortedKeys(tools)
	out := map[string]any{"total": total, "tools": listed}
	for k, v := range counts {
		out[k] = v
	}
	return out, nil
}

// securitySeverity reads a security-severity property: a number, or a
// string holding one, from 0 to 10.
func securitySeverity(v any) (float64, bool, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case float64:
		f = x
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, false, fmt.Errorf("security-severity %q is not a number", x)
		}
	default:
		return 0, false, fmt.Errorf("security-severity must be a number")
	}
	if !(f >= 0 && f <= 10) { // NaN too
		return 0, false, fmt.Errorf("security-severity %g is outside 0–10", f)
	}
	return f, true, nil
}

func severity(score float64, scored bool, level string) string {
	if scored {
		switch {
		case score >= 9:
			return "critical"
		case score >= 7:
			return "high"
		case score >= 4:
			return "medium"
		}
		return "low"
	}
	switch level {
	case "error":
		return "high"
	case "note":
		return "low"
	case "none":
		return ""
	}
	return "medium" // "warning", SARIF's default level
}
