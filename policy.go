package shipgate

import (
	"fmt"
	"strings"
	"time"
)

// Policy gates: Rego modules, package shipgate.<name>, that an environment
// names (Environment.Policies) and that are judged at four points of a
// release's life. Every judgement is a PolicyDecision, kept with the input
// it saw and the bundle it ran, so it can be replayed byte for byte.

// The points at which policies are evaluated.
const (
	PolicyPointCreate  = "create"
	PolicyPointApprove = "approve"
	PolicyPointStart   = "start"
	PolicyPointPromote = "promote"
)

// PolicyPoints lists the points, in the order a release meets them.
var PolicyPoints = []string{PolicyPointCreate, PolicyPointApprove, PolicyPointStart, PolicyPointPromote}

// Results of a decision.
const (
	PolicyAllow = "allow"
	PolicyDeny  = "deny"
	PolicyError = "error" // evaluation failed: blocks, like a deny (fail closed)
)

// Where a policy revision came from.
const (
	PolicySourceAPI = "api" // shipgate policy apply
	PolicySourceDir = "dir" // serve --policy-dir
)

// Audit actions of policy gates.
const (
	ActionPolicyApplied = "policy.applied"
	ActionPolicyDecided = "policy.decided"
)

// PolicySubject is the subject of events about a policy.
func PolicySubject(name string) string { return "policy/" + name }

// Limits on policies.
const (
	MaxPolicySource   = 256 << 10 // bytes of one Rego module
	MaxPoliciesPerEnv = 32
	MaxPolicyMessages = 100 // deny or warn messages kept per decision
	MaxPolicyMessage  = 2000
)

// PolicyRevision is one applied version of a policy.
type PolicyRevision struct {
	Name      string    `json:"name"`
	Revision  int       `json:"revision"`
	Digest    string    `json:"digest"` // sha256 of Source
	Filename  string    `json:"filename"`
	Source    string    `json:"source,omitempty"`
	Origin    string    `json:"origin"` // PolicySourceAPI or PolicySourceDir
	AppliedBy string    `json:"applied_by"`
	AppliedAt time.Time `json:"applied_at"`
}

// PolicyModule is one module of a bundle: a policy at a revision.
type PolicyModule struct {
	Name     string `json:"name"`
	Revision int    `json:"revision"`
	Filename string `json:"filename"`
	Source   string `json:"source"`
}

// PolicyBundle is the set of policies a release is judged by at one
// point: the current revisions of the policies its environment names,
// sorted by name. Its digest (PolicyBundleDigest) names it in decisions.
type PolicyBundle struct {
	Modules []PolicyModule `json:"modules"`
}

// Names returns the bundle's policy names.
func (b PolicyBundle) Names() []string {
	out := make([]string, len(b.Modules))
	for i, m := range b.Modules {
		out[i] = m.Name
	}
	return out
}

// PolicyResult is what a bundle said about one input: deny and warn
// messages, each prefixed by nothing (the policy's own words), sorted and
// de-duplicated, and the evaluation error if there was one. Its canonical
// JSON is what replay compares.
type PolicyResult struct {
	Result string   `json:"result"`
	Deny   []string `json:"deny"`
	Warn   []string `json:"warn"`
	Error  string   `json:"error,omitempty"`
}

// PolicyDecision is a recorded judgement. ReleaseID is 0 for a create
// that was refused (the release never existed; Input holds what it would
// have been).
type PolicyDecision struct {
	ID           int64     `json:"id"`
	Point        string    `json:"point"`
	ReleaseID    int64     `json:"release_id,omitempty"`
	Service      string    `json:"service"`
	Environment  string    `json:"environment"`
	Actor        string    `json:"actor"`
	Policies     []string  `json:"policies"`
	BundleDigest string    `json:"bundle_digest"`
	InputDigest  string    `json:"input_digest"`
	Input        string    `json:"input,omitempty"` // canonical JSON
	PolicyResult           // result, deny, warn, error
	ResultDigest string    `json:"result_digest"`
	At           time.Time `json:"at"`
}

// Blocks reports whether the decision stops what it judged.
func (d *PolicyDecision) Blocks() bool { return d.Result != PolicyAllow }

// Reason is the decision in one line for a person: the deny messages, or
// the evaluation error.
func (d *PolicyDecision) Reason() string {
	if d.Result == PolicyError {
		return "policy evaluation failed (fail closed): " + d.Error
	}
	return strings.Join(d.Deny, "; ")
}

// PolicyDeniedError refuses what a decision blocked. It carries the
// decision so the store can record it after the refused transaction
// rolled back (ID is set then, and shows in the message).
type PolicyDeniedError struct {
	Decision *PolicyDecision
	// Bundle is the canonical JSON of the bundle the decision ran.
	Bundle []byte
}

func (e *PolicyDeniedError) Error() string { return e.Unwrap().Error() }

// Unwrap gives the error's code: failed_precondition.
func (e *PolicyDeniedError) Unwrap() error {
	d := e.Decision
	ref := ""
	if d.ID != 0 {
		ref = fmt.Sprintf(" (decision %d: shipgate policy replay %d)", d.ID, d.ID)
	}
	verb := "denied by policy"
	if d.Result == PolicyError {
		verb = "blocked by policy"
	}
	return Errorf(EFAILEDPRECONDITION, "%s at %s: %s%s", verb, d.Point, d.Reason(), ref)
}

// ValidatePolicyName refuses a name that cannot be a Rego package segment
// (shipgate.<name>): 1–63 lowercase letters, digits and '_', starting with
// a letter.
func ValidatePolicyName(s string) error {
	ok := len(s) > 0 && len(s) <= 63 && s[0] >= 'a' && s[0] <= 'z'
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			ok = false
		}
	}
	if !ok {
		return Errorf(EINVALID, "policy name %q is not valid: use 1-63 lowercase letters, digits or '_', starting with a letter (it is the Rego package shipgate.<name>)", s)
	}
	return nil
}

// PolicyDecisionFilter selects decisions to list.
type PolicyDecisionFilter struct {
	ReleaseID int64
	Point     string
	Result    string
	AfterID   int64 // decisions with a larger id
	Limit     int
}

// policyNameProblems checks an environment's policies list (p is the
// environment's path): valid names, each once, at most MaxPoliciesPerEnv.
func policyNameProblems(p string, names []string) []FieldError {
	var out []FieldError
	if len(names) > MaxPoliciesPerEnv {
		out = append(out, FieldError{Path: p + ".policies", Message: fmt.Sprintf("an environment names at most %d policies, not %d", MaxPoliciesPerEnv, len(names))})
	}
	seen := map[string]bool{}
	for j, n := range names {
		path := fmt.Sprintf("%s.policies[%d]", p, j)
		if err := ValidatePolicyName(n); err != nil {
			out = append(out, FieldError{Path: path, Message: ErrorMessage(err)})
		} else if seen[n] {
			out = append(out, FieldError{Path: path, Message: fmt.Sprintf("policy %q is named twice", n)})
		}
		seen[n] = true
	}
	return out
}

// MissingPolicyProblems refuses the policies an environment names that do
// not exist (missing): a gate that is not there would block every release
// (fail closed), so it is caught when the service file is applied.
func MissingPolicyProblems(spec *ServiceSpec, missing map[string]bool) error {
	var out []FieldError
	for i, e := range spec.Environments {
		for j, n := range e.Policies {
			if missing[n] {
				out = append(out, FieldError{Path: fmt.Sprintf("spec.environments[%d].policies[%d]", i, j),
					Message: fmt.Sprintf("policy %q does not exist; apply it first with `shipgate policy apply -f FILE` (or put it in the server's --policy-dir)", n)})
			}
		}
	}
	if out == nil {
		return nil
	}
	return &ValidationError{Problems: out}
}

// PolicyNames returns every policy name the spec's environments name.
func (s *ServiceSpec) PolicyNames() []string {
	var out []string
	for _, e := range s.Environments {
		out = append(out, e.Policies...)
	}
	return out
}
