package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shipgate/shipgate"
)

// printReleaseInputs shows a release's inputs. With declarations frozen
// into it, one line per declared input: its value (secrets as ***),
// whether it was given or is the default, its rules and description.
// Without (the service declared none), the inputs as given, unchecked.
func printReleaseInputs(w io.Writer, r *shipgate.Release) {
	if r.InputDeclarations == nil {
		if len(r.Inputs) == 0 && len(r.SecretInputs) == 0 {
			return
		}
		var parts []string
		for _, k := range sortedKeys(r.Inputs) {
			parts = append(parts, k+"="+r.Inputs[k])
		}
		for _, k := range sortedKeys(r.SecretInputs) {
			parts = append(parts, k+"=***")
		}
		fmt.Fprintf(w, "  inputs:    %s (not declared by the service, so not checked)\n", strings.Join(parts, " "))
		return
	}
	if len(r.InputDeclarations) == 0 {
		fmt.Fprintln(w, "  inputs:    none (the service declares that it takes none)")
		return
	}
	defaulted := map[string]bool{}
	for _, k := range r.DefaultedInputs {
		defaulted[k] = true
	}
	fmt.Fprintln(w, "inputs:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range r.InputDeclarations {
		value, from := "-", "not given"
		if v, ok := r.Inputs[d.Name]; ok {
			value, from = v, "given"
			if defaulted[d.Name] {
				from = "default"
			}
			if value == "" {
				value = `""`
			}
		} else if _, ok := r.SecretInputs[d.Name]; ok {
			value, from = "***", "given"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", d.Name, value, from, inputRules(d, false), d.Description)
	}
	tw.Flush()
}

// inputRules sums up a declaration: required or optional, secret, the
// default (if withDefault) and the pattern.
func inputRules(d shipgate.InputDecl, withDefault bool) string {
	rules := []string{"optional"}
	if d.Required {
		rules[0] = "required"
	}
	if d.Secret {
		rules = append(rules, "secret")
	}
	if withDefault && d.Default != nil {
		rules = append(rules, fmt.Sprintf("default %q", *d.Default))
	}
	if d.Pattern != "" {
		rules = append(rules, fmt.Sprintf("pattern %q", d.Pattern))
	}
	return strings.Join(rules, ", ")
}

// printServiceInputs lists a service's declared inputs, then each
// environment's additions and overrides, for service show.
func printServiceInputs(w io.Writer, spec *shipgate.ServiceSpec) {
	line := func(d shipgate.InputDecl, where string) {
		s := fmt.Sprintf("  input %s%s: %s", d.Name, where, inputRules(d, true))
		if d.Description != "" {
			s += " — " + d.Description
		}
		fmt.Fprintln(w, s)
	}
	declared := spec.Inputs != nil
	for _, d := range spec.Inputs {
		line(d, "")
	}
	for _, e := range spec.Environments {
		if e.Inputs == nil {
			continue
		}
		declared = true
		for _, d := range e.Inputs {
			where := " (" + e.Name + " only)"
			for _, sd := range spec.Inputs {
				if sd.Name == d.Name {
					where = " (in " + e.Name + ")"
				}
			}
			line(d, where)
		}
	}
	switch {
	case !declared:
		fmt.Fprintln(w, "  inputs: not declared (any input is accepted, unchecked)")
	case len(spec.Inputs) == 0 && declared && allEmpty(spec.Environments):
		fmt.Fprintln(w, "  inputs: none allowed (inputs: [])")
	}
}

func allEmpty(envs []shipgate.Environment) bool {
	for _, e := range envs {
		if len(e.Inputs) > 0 {
			return false
		}
	}
	return true
}
