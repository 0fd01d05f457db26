package shipgate

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Service is a deployable thing as described by its service file. Applying a
// changed file creates a new revision; releases freeze the revision they were
// created from, so later edits never change what was approved.
type Service struct {
	Name      string      `json:"name"`
	Revision  int         `json:"revision"`
	Digest    string      `json:"digest"`
	Spec      ServiceSpec `json:"spec"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// ServiceRevision is one applied version of a service file, kept forever so
// that the history of policy changes can be shown and audited.
type ServiceRevision struct {
	Service  string `json:"service"`
	Revision int    `json:"revision"`
	Digest   string `json:"digest"`
	// Spec and Source are left out of a list of revisions, which is a
	// summary; one revision carries them.
	Spec      ServiceSpec `json:"spec,omitzero"`
	Filename  string      `json:"filename"`
	Source    string      `json:"source,omitempty"`
	AppliedBy string      `json:"applied_by"`
	AppliedAt time.Time   `json:"applied_at"`
}

// ServiceSpec is the parsed, validated content of a service file.
type ServiceSpec struct {
	Name         string        `json:"name"`
	Environments []Environment `json:"environments"`
	Pipeline     Pipeline      `json:"pipeline"`
	// Inputs declares the release inputs the service accepts (see
	// InputDecl). nil: none declared, any input accepted; empty: none
	// allowed. omitzero keeps the digest of specs without inputs unchanged.
	Inputs []InputDecl `json:"inputs,omitzero"`
}

// Digest returns the content digest of the spec: two files that parse to the
// same spec have the same digest, whatever their formatting or comments.
func (s *ServiceSpec) Digest() string {
	b, err := CanonicalJSON(s)
	if err != nil {
		panic(fmt.Sprintf("shipgate: service spec not encodable: %v", err)) // all fields are plain data
	}
	return SHA256Hex(b)
}

// Environment finds an environment by name.
func (s *ServiceSpec) Environment(name string) (*Environment, bool) {
	for i := range s.Environments {
		if s.Environments[i].Name == name {
			return &s.Environments[i], true
		}
	}
	return nil, false
}

// EnvironmentNames lists the environments in file order.
func (s *ServiceSpec) EnvironmentNames() []string {
	names := make([]string, len(s.Environments))
	for i, e := range s.Environments {
		names[i] = e.Name
	}
	return names
}

// Environment is one stage of a service with its own protection rules.
type Environment struct {
	Name      string         `json:"name"`
	Requires  []string       `json:"requires,omitempty"`
	Approvals ApprovalPolicy `json:"approvals"`
	Windows   []Window       `json:"windows,omitempty"`
	Rollback  RollbackPolicy `json:"rollback"`
	// Inputs adds input declarations for this environment or replaces the
	// service's of the same name (see ServiceSpec.EffectiveInputs).
	Inputs []InputDecl `json:"inputs,omitzero"`
	// WindowsApplyToRollbacks makes rollback releases wait for the deploy
	// windows like any other release. By default a rollback starts at
	// once, window or not: it restores a version known to be good, and
	// waiting for tomorrow's window leaves the broken one serving.
	WindowsApplyToRollbacks bool `json:"windows_apply_to_rollbacks,omitempty"`
	// RollbackStrategy is how a rollback release moves traffic back to the
	// version it restores, for every service job of the pipeline; nil
	// means all traffic at once. It never pauses for a person and never
	// analyses: a rollback is not judged against the version it replaces.
	RollbackStrategy *Strategy `json:"rollback_strategy,omitempty"`
	// Notify routes the environment's notifications and sets its
	// re-notification and escalation timers (see NotifyPolicy); nil keeps
	// the server-wide sinks, which also keeps older releases' digests.
	Notify *NotifyPolicy `json:"notify,omitempty"`
}

// ApprovalPolicy says who must approve a release before it may run.
type ApprovalPolicy struct {
	// Required is the number of distinct eligible approvers needed; 0 means
	// releases are queued as soon as they are created.
	Required int `json:"required"`
	// FromGroups restricts eligible approvers to members of these groups.
	// Empty means any user with the approver role.
	FromGroups []string `json:"from_groups,omitempty"`
	// AllowSelfApproval lets the release's creator count as an approver.
	AllowSelfApproval bool `json:"allow_self_approval"`
	// ExpiresAfter makes an approval stop counting after this long; 0 never.
	ExpiresAfter Duration `json:"expires_after,omitempty"`
}

// RollbackPolicy says what the platform does when a release fails. It is
// frozen into each release; step 3 of the roadmap acts on it.
type RollbackPolicy struct {
	Enabled      bool   `json:"enabled"`
	CheckTarget  string `json:"check_target,omitempty"`
	DelaySeconds int    `json:"delay_seconds"`
	Mode         string `json:"mode,omitempty"`
	Version      string `json:"version,omitempty"`
}

// Rollback modes and the special check target.
const (
	RollbackLastSuccessful = "last_successful"
	RollbackVersion        = "version"
	CheckTargetPipeline    = "pipeline"
)

// Pipeline is the DAG of jobs that deploys a release.
type Pipeline struct {
	Jobs []Job `json:"jobs"`
}

// Job finds a job by name.
func (p *Pipeline) Job(name string) (*Job, bool) {
	for i := range p.Jobs {
		if p.Jobs[i].Name == name {
			return &p.Jobs[i], true
		}
	}
	return nil, false
}

// Job is a unit of work placed on one runner: either a list of steps or a
// health check.
type Job struct {
	Name    string            `json:"name"`
	Needs   []string          `json:"needs,omitempty"`
	RunsOn  map[string]string `json:"runs_on,omitempty"`
	Timeout Duration          `json:"timeout,omitempty"`
	Retries int               `json:"retries,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Steps   []Step            `json:"steps,omitempty"`
	Check   *Check            `json:"check,omitempty"`
	// Service makes the job a supervised service rolled out by Strategy
	// (see ServiceProcess); such a job has no steps and no check.
	Service  *ServiceProcess `json:"service,omitempty"`
	Strategy *Strategy       `json:"strategy,omitempty"`
}

// MaxAttempts is how many times the job may be started: one plus retries.
func (j *Job) MaxAttempts() int { return 1 + j.Retries }

// DefaultJobTimeout bounds a job that states no timeout, so a hung step can
// never hold a release forever.
const DefaultJobTimeout = Duration(time.Hour)

// EffectiveTimeout is the job's timeout or DefaultJobTimeout.
func (j *Job) EffectiveTimeout() time.Duration {
	if j.Timeout > 0 {
		return j.Timeout.Std()
	}
	return DefaultJobTimeout.Std()
}

// Step is one command of a job. Run is a script from the service file,
// executed by /bin/sh -c; Exec is an argv executed without any shell. Neither
// is ever assembled from release inputs: inputs reach steps only as
// environment variables.
type Step struct {
	Name string   `json:"name,omitempty"`
	Run  string   `json:"run,omitempty"`
	Exec []string `json:"exec,omitempty"`
}

// Label returns a short human label for the step.
func (s *Step) Label(i int) string {
	if s.Name != "" {
		return s.Name
	}
	cmd := s.Run
	if len(s.Exec) > 0 {
		cmd = strings.Join(s.Exec, " ")
	}
	if i := strings.IndexByte(cmd, '\n'); i >= 0 {
		cmd = cmd[:i] + " …"
	}
	if len(cmd) > 60 {
		cmd = cmd[:57] + "..."
	}
	return fmt.Sprintf("step %d: %s", i+1, cmd)
}

// Check is a health-gate job: a probe repeated every Interval until it has
// passed PassAfter times in a row (pass) or failed FailAfter times in a row
// (fail), bounded by Timeout.
type Check struct {
	HTTP      *HTTPCheck    `json:"http,omitempty"`
	TCP       *TCPCheck     `json:"tcp,omitempty"`
	Command   *CommandCheck `json:"command,omitempty"`
	Interval  Duration      `json:"interval,omitempty"`
	PassAfter int           `json:"pass_after,omitempty"`
	FailAfter int           `json:"fail_after,omitempty"`
	Timeout   Duration      `json:"timeout,omitempty"`
}

// HTTPCheck probes a URL and expects one of the given statuses.
type HTTPCheck struct {
	URL          string `json:"url"`
	Method       string `json:"method,omitempty"`
	ExpectStatus []int  `json:"expect_status,omitempty"`
	BodyContains string `json:"body_contains,omitempty"`
	// JSONPath ("status", "checks[0].state", optionally "$."-prefixed)
	// selects a value in a JSON body that must equal JSONEquals.
	JSONPath   string   `json:"json_path,omitempty"`
	JSONEquals string   `json:"json_equals,omitempty"`
	Timeout    Duration `json:"timeout,omitempty"`
}

// TCPCheck succeeds when a TCP connection to Address can be opened.
type TCPCheck struct {
	Address string `json:"address"`
}

// CommandCheck succeeds when the command exits 0.
type CommandCheck struct {
	Run  string   `json:"run,omitempty"`
	Exec []string `json:"exec,omitempty"`
}

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
	}
	if c := requiresCycle(s.Environments); c != nil {
		v.add(fmt.Sprintf("spec.environments[%d].requires", envIndex[c[0]]), "environments %s require each other in a cycle", strings.Join(c, " → "))
	}
	v.pipeline(&s.Pipeline)
	v.specInputs(s)
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

// TopoOrder returns the job names so that every job comes after the jobs it
// needs; among jobs that are ready at the same time, file order wins. The
// pipeline must be valid; jobs on a cycle are appended in name order.
func (p *Pipeline) TopoOrder() []string {
	placed := map[string]bool{}
	var out []string
	for len(out) < len(p.Jobs) {
		next := ""
		for _, j := range p.Jobs {
			if placed[j.Name] {
				continue
			}
			ready := true
			for _, n := range j.Needs {
				ready = ready && placed[n]
			}
			if ready {
				next = j.Name
				break
			}
		}
		if next == "" { // a cycle: cannot happen for a validated pipeline
			var rest []string
			for _, j := range p.Jobs {
				if !placed[j.Name] {
					rest = append(rest, j.Name)
				}
			}
			sort.Strings(rest)
			return append(out, rest...)
		}
		placed[next] = true
		out = append(out, next)
	}
	return out
}
