package shipgate

// The rules a service spec must satisfy beyond what its parser checks:
// unique names, needs and requires without cycles, checks and rollback
// policies that name real jobs, environment policies that fit the pipeline.

import (
	"fmt"
	"net/url"
	"strings"
)

// FieldError is one problem found in a spec, located by a path such as
// "spec.pipeline.jobs[1].needs[0]" so a file parser can turn it into a line.
type FieldError struct {
	Path    string
	Message string
}

// ValidationError lists every problem found in a spec.
type ValidationError struct {
	Problems []FieldError
}

// Unwrap makes a validation error an EINVALID one for every layer.
func (e *ValidationError) Unwrap() error { return &Error{Code: EINVALID, Message: e.Error()} }

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Path + ": " + p.Message
	}
	return strings.Join(msgs, "; ")
}

// Validate checks the rules that span fields: unique names, needs that name
// existing jobs without cycles, requires that name other environments,
// rollback targets that name a job, approval policies that can be met. It
// returns a *ValidationError or nil.
func (s *ServiceSpec) Validate() error {
	var v validator
	if !validName(s.Name) {
		v.add("metadata.name", "service name %q is not valid: use 1-63 lowercase letters, digits, '-', '_' or '.'", s.Name)
	}
	if len(s.Environments) == 0 {
		v.add("spec.environments", "a service needs at least one environment")
	}
	if err := ValidateRepositoryURL(s.Repository); err != nil {
		v.add("spec.repository", "%s", err.Error())
	}
	if s.Owner != "" && !validName(s.Owner) {
		v.add("spec.owner", "owner %q is not a valid group name", s.Owner)
	}
	if err := ValidateRepositoryURL(s.Runbook); err != nil {
		v.add("spec.runbook", "%s", strings.Replace(err.Error(), "repository", "runbook", 1))
	}
	envIndex := map[string]int{}
	for i, e := range s.Environments {
		p := fmt.Sprintf("spec.environments[%d]", i)
		if !validName(e.Name) {
			v.add(p+".name", "environment name %q is not valid: use 1-63 lowercase letters, digits, '-', '_' or '.'", e.Name)
		}
		if _, dup := envIndex[e.Name]; dup {
			v.add(p+".name", "environment %q is defined twice", e.Name)
		}
		envIndex[e.Name] = i
	}
	for i, e := range s.Environments {
		p := fmt.Sprintf("spec.environments[%d]", i)
		for j, r := range e.Requires {
			if r == e.Name {
				v.add(fmt.Sprintf("%s.requires[%d]", p, j), "environment %q cannot require itself", e.Name)
			} else if _, ok := envIndex[r]; !ok {
				v.add(fmt.Sprintf("%s.requires[%d]", p, j), "requires names environment %q, but the service defines only %s", r, quoteList(s.EnvironmentNames()))
			}
		}
		v.problems = append(v.problems, policyNameProblems(p, e.Policies)...)
		a := e.Approvals
		if a.Required < 0 {
			v.add(p+".approvals.required", "required approvals must be 0 or more, not %d", a.Required)
		}
		for j, g := range a.FromGroups {
			if !validName(g) {
				v.add(fmt.Sprintf("%s.approvals.from_groups[%d]", p, j), "group name %q is not valid", g)
			}
		}
		for j, w := range e.Windows {
			if err := w.Validate(); err != nil {
				v.add(fmt.Sprintf("%s.windows[%d]", p, j), "%s", err.Error())
			}
		}
		if e.WindowsApplyToRollbacks && len(e.Windows) == 0 {
			// It would hold nothing: refused rather than accepted as if it
			// protected something.
			v.add(p+".windows_apply_to_rollbacks", "windows_apply_to_rollbacks has no effect: environment %s has no windows; add windows, or remove the key", e.Name)
		}
		v.rollback(p+".rollback", &e.Rollback, &s.Pipeline)
		if e.RollbackStrategy != nil {
			v.rollbackStrategy(p+".rollback_strategy", e.RollbackStrategy, &s.Pipeline)
		}
		v.notify(p+".notify", e.Notify)
		v.checklist(p+".checklist", e.Checklist)
		v.problems = append(v.problems, ValidateFlags(p+".flags", e.Flags)...)
		v.flagGovernance(p, s, &s.Environments[i])
	}
	if c := requiresCycle(s.Environments); c != nil {
		v.add(fmt.Sprintf("spec.environments[%d].requires", envIndex[c[0]]), "environments %s require each other in a cycle", strings.Join(c, " → "))
	}
	v.pipeline(&s.Pipeline)
	v.specInputs(s)
	v.problems = append(v.problems, ValidateFlags("spec.flags", s.Flags)...)
	return v.err()
}

// maxStepName bounds a step's name, which is shown in logs and release
// views.
const maxStepName = 200

type validator struct{ problems []FieldError }

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

func (v *validator) rollback(p string, r *RollbackPolicy, pl *Pipeline) {
	if r.CheckTarget != "" && r.CheckTarget != CheckTargetPipeline {
		if _, ok := pl.Job(r.CheckTarget); !ok {
			v.add(p+".check_target", "check_target names job %q, but the pipeline has no such job (use %q or one of %s)", r.CheckTarget, CheckTargetPipeline, quoteList(jobNames(pl)))
		}
	}
	if r.DelaySeconds < 0 {
		v.add(p+".delay_seconds", "delay_seconds must be 0 or more, not %d", r.DelaySeconds)
	}
	switch r.Mode {
	case "", RollbackLastSuccessful:
		if r.Version != "" {
			v.add(p+".version", "version is only used with mode: %s", RollbackVersion)
		}
	case RollbackVersion:
		if r.Version == "" {
			v.add(p+".version", "mode: %s needs a version to roll back to", RollbackVersion)
		} else if err := ValidateVersion(r.Version); err != nil {
			v.add(p+".version", "%s", ErrorMessage(err))
		}
	default:
		v.add(p+".mode", "rollback mode %q is not known (use %q or %q)", r.Mode, RollbackLastSuccessful, RollbackVersion)
	}
}

func (v *validator) pipeline(pl *Pipeline) {
	if len(pl.Jobs) == 0 {
		v.add("spec.pipeline.jobs", "the pipeline needs at least one job")
	}
	index := map[string]int{}
	for i, j := range pl.Jobs {
		p := fmt.Sprintf("spec.pipeline.jobs[%d]", i)
		if !validName(j.Name) {
			v.add(p+".name", "job name %q is not valid: use 1-63 lowercase letters, digits, '-', '_' or '.'", j.Name)
		}
		if _, dup := index[j.Name]; dup {
			v.add(p+".name", "job %q is defined twice", j.Name)
		}
		index[j.Name] = i
	}
	for i, j := range pl.Jobs {
		p := fmt.Sprintf("spec.pipeline.jobs[%d]", i)
		for k, n := range j.Needs {
			if n == j.Name {
				v.add(fmt.Sprintf("%s.needs[%d]", p, k), "job %q cannot need itself", j.Name)
			} else if _, ok := index[n]; !ok {
				v.add(fmt.Sprintf("%s.needs[%d]", p, k), "job %q needs %q, but the pipeline has no such job", j.Name, n)
			}
		}
		if j.Retries < 0 {
			v.add(p+".retries", "retries must be 0 or more, not %d", j.Retries)
		}
		for k := range j.Env {
			if !validEnvName(k) {
				v.add(p+".env", "environment variable name %q is not valid", k)
			}
		}
		for _, k := range sortedKeys(j.RunsOn) {
			if err := ValidateLabelName(k); err != nil {
				v.add(p+".runs_on", "%s", ErrorMessage(err))
			} else if err := ValidateLine("the value of runs_on label "+k, j.RunsOn[k], 256); err != nil {
				v.add(p+".runs_on", "%s", ErrorMessage(err))
			}
		}
		switch {
		case j.Check != nil && len(j.Steps) > 0:
			v.add(p, "job %q has both steps and a check; a job is one or the other", j.Name)
		case j.Check == nil && len(j.Steps) == 0 && j.Service == nil:
			v.add(p, "job %q has no steps, check or service; give it one of them", j.Name)
		}
		for k, s := range j.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", p, k)
			if err := ValidateLine("a step name", s.Name, maxStepName); err != nil {
				v.add(sp+".name", "%s", ErrorMessage(err))
			}
			switch {
			case s.Run != "" && len(s.Exec) > 0:
				v.add(sp, "a step has either run or exec, not both")
			case strings.TrimSpace(s.Run) == "" && len(s.Exec) == 0:
				v.add(sp, "a step needs run (a script) or exec (an argument list)")
			case len(s.Exec) > 0 && s.Exec[0] == "":
				v.add(sp+".exec[0]", "exec needs a program as its first element")
			}
		}
		if j.Check != nil {
			v.check(p+".check", j.Check)
		}
	}
	v.serviceJobs(pl)
	if c := needsCycle(pl); c != nil {
		v.add(fmt.Sprintf("spec.pipeline.jobs[%d].needs", index[c[0]]), "jobs %s need each other in a cycle", strings.Join(c, " → "))
	}
}

func (v *validator) check(p string, c *Check) {
	n := 0
	if c.HTTP != nil {
		n++
		if c.HTTP.URL == "" || !(strings.HasPrefix(c.HTTP.URL, "http://") || strings.HasPrefix(c.HTTP.URL, "https://")) {
			v.add(p+".http.url", "an http check needs an http:// or https:// url")
		}
		if (c.HTTP.JSONPath == "") != (c.HTTP.JSONEquals == "") {
			v.add(p+".http", "json_path and json_equals go together")
		} else if c.HTTP.JSONPath != "" {
			if _, err := ParseJSONPath(c.HTTP.JSONPath); err != nil {
				v.add(p+".http.json_path", "%v", err)
			}
		}
		for i, s := range c.HTTP.ExpectStatus {
			if s < 100 || s > 599 {
				v.add(fmt.Sprintf("%s.http.expect_status[%d]", p, i), "%d is not an HTTP status", s)
			}
		}
	}
	if c.TCP != nil {
		n++
		if c.TCP.Address == "" || !strings.Contains(c.TCP.Address, ":") {
			v.add(p+".tcp.address", "a tcp check needs an address of the form host:port")
		}
	}
	if c.Command != nil {
		n++
		if c.Command.Run == "" && len(c.Command.Exec) == 0 {
			v.add(p+".command", "a command check needs run or exec")
		}
	}
	if n != 1 {
		v.add(p, "a check has exactly one of http, tcp or command")
	}
	if c.PassAfter < 0 {
		v.add(p+".pass_after", "pass_after must be 1 or more")
	}
	if c.FailAfter < 0 {
		v.add(p+".fail_after", "fail_after must be 1 or more")
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return !strings.HasPrefix(s, "SHIPGATE_")
}

func jobNames(pl *Pipeline) []string {
	names := make([]string, len(pl.Jobs))
	for i, j := range pl.Jobs {
		names[i] = j.Name
	}
	return names
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// needsCycle returns the names along one cycle in the jobs' needs, first
// name repeated at the end, or nil.
func needsCycle(pl *Pipeline) []string {
	edges := map[string][]string{}
	var order []string
	for _, j := range pl.Jobs {
		edges[j.Name] = j.Needs
		order = append(order, j.Name)
	}
	return findCycle(order, edges)
}

func requiresCycle(envs []Environment) []string {
	edges := map[string][]string{}
	var order []string
	for _, e := range envs {
		edges[e.Name] = e.Requires
		order = append(order, e.Name)
	}
	return findCycle(order, edges)
}

func findCycle(order []string, edges map[string][]string) []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) bool
	visit = func(n string) bool {
		state[n] = active
		stack = append(stack, n)
		for _, m := range edges[n] {
			if _, known := edges[m]; !known || m == n {
				continue // reported separately
			}
			switch state[m] {
			case active:
				for i, s := range stack {
					if s == m {
						cycle = append(append([]string{}, stack[i:]...), m)
						return true
					}
				}
			case unseen:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	for _, n := range order {
		if state[n] == unseen && visit(n) {
			return cycle
		}
	}
	return nil
}

// maxRepositoryLen bounds a service's repository URL.
const maxRepositoryLen = 512

// ValidateRepositoryURL checks a service's repository URL: empty, or an
// absolute https URL with a host and no credentials, query or fragment,
// so a link built from it (<repository>/commit/<commit>) goes where the
// file says and nowhere else.
func ValidateRepositoryURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxRepositoryLen {
		return fmt.Errorf("repository is longer than %d bytes", maxRepositoryLen)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("repository %q is not an https URL such as https://github.com/acme/hello", s)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, " \t\n\r\"<>\\") {
		return fmt.Errorf("repository %q must be a plain https URL: no credentials, query, fragment or spaces", s)
	}
	return nil
}
