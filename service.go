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
	// Repository is the https URL of the service's source repository
	// (optional). The web UI links a release's commit as
	// <repository>/commit/<commit>, which GitHub, GitLab, Gitea and
	// Forgejo all serve. omitempty keeps older specs' digests unchanged.
	Repository string `json:"repository,omitempty"`
	// Owner is the group that owns the service and Runbook the https URL
	// of what to do when it breaks; both are frozen into each release
	// (ReleaseContent.Owner, .Runbook) so policies can read them.
	// omitempty keeps older specs' digests unchanged.
	Owner   string `json:"owner,omitempty"`
	Runbook string `json:"runbook,omitempty"`
	// Flags are the service's feature flags (see Flag, docs/flags.md);
	// an environment may replace or add some (EffectiveFlags).
	// omitempty keeps older specs' digests unchanged.
	Flags []Flag `json:"flags,omitempty"`
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
	// Checklist is what a release must satisfy before it is approved or
	// started (see ChecklistItem); omitempty keeps older digests.
	Checklist []ChecklistItem `json:"checklist,omitempty"`
	// Policies names the policy gates (package shipgate.<name>) releases
	// of this environment are judged by; omitted when none, which keeps
	// older releases' digests.
	Policies []string `json:"policies,omitempty"`
	// Flags replace the service's flags of the same key in this
	// environment, or add flags (ServiceSpec.EffectiveFlags); omitempty
	// keeps older releases' digests.
	Flags []Flag `json:"flags,omitempty"`
	// FlagApprovals, when it requires approvals, makes changes of this
	// environment's flags wait for them (the same rules as releases';
	// never self-approved). A kill and a rollback mitigation never wait.
	FlagApprovals *ApprovalPolicy `json:"flag_approvals,omitempty"`
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
	// Mitigations are flags flipped the moment the release's health gate
	// or canary analysis fails, before the redeploy (or instead of it,
	// with enabled: false). omitempty keeps older digests.
	Mitigations []FlagMitigation `json:"mitigations,omitempty"`
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
	// Evidence lists files the step produces that its runner attaches to
	// the release after the step (see StepEvidence).
	Evidence []StepEvidence `json:"evidence,omitempty"`
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
