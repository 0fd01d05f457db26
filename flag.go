package shipgate

// Feature flags (issue 15). A Flag is declared in a service file (spec.flags,
// with per-environment replacements) and evaluated by internal/flags against
// an evaluation context — the attributes an application passes with each
// evaluation (OpenFeature's "evaluation context"). docs/flags.md describes
// the format, the operators, how percentage rollouts hash and the reasons
// and error codes of an evaluation.

// FlagType is the type of every variant value of a flag.
type FlagType string

// The flag types OpenFeature knows: a JSON flag's variants are objects,
// lists or scalars (OpenFeature's "object" type).
const (
	FlagBoolean FlagType = "boolean"
	FlagString  FlagType = "string"
	FlagNumber  FlagType = "number"
	FlagJSON    FlagType = "json"
)

// FlagTypes lists the flag types in the order messages show them.
var FlagTypes = []FlagType{FlagBoolean, FlagString, FlagNumber, FlagJSON}

// TargetingKey is the context attribute OpenFeature reserves for the
// identity of the subject of an evaluation (a user, a session, a tenant);
// percentage rollouts bucket by it unless they name another attribute.
const TargetingKey = "targetingKey"

// Flag is one feature flag of a service in an environment.
type Flag struct {
	Key         string   `json:"key"`
	Type        FlagType `json:"type"`
	Description string   `json:"description,omitempty"`
	// Variants maps a variant name to its value: a bool, a string, a
	// float64 or (json flags) any JSON value, as encoding/json decodes it.
	Variants map[string]any `json:"variants"`
	// DefaultVariant is served when no rule matches and the flag has no
	// rollout of its own.
	DefaultVariant string `json:"default_variant"`
	// SafeVariant is what the kill switch serves: the variant that is
	// known to be harmless (usually the old behaviour). Required, so a
	// kill never has to be thought about during an incident.
	SafeVariant string `json:"safe_variant"`
	// Disabled (killed) flags serve SafeVariant to everyone, whatever
	// the rules say.
	Disabled bool `json:"disabled,omitempty"`
	// Serve, on a disabled flag, is the variant it serves instead of
	// SafeVariant: a rollback mitigation may flip a flag to a variant of
	// its choice ({flag, variant}). Empty means SafeVariant.
	Serve string `json:"serve,omitempty"`
	// Rules are tried in order; the first whose conditions all hold
	// decides.
	Rules []FlagRule `json:"rules,omitempty"`
	// Rollout, when set, decides for callers no rule matched, instead of
	// DefaultVariant.
	Rollout *FlagRollout `json:"rollout,omitempty"`
}

// Served is the variant a disabled flag serves: Serve, or SafeVariant.
func (f *Flag) Served() string {
	if f.Serve != "" {
		return f.Serve
	}
	return f.SafeVariant
}

// FlagRule serves Variant, or splits by Rollout, to the callers for whom
// every condition holds. A rule with no conditions matches everyone.
type FlagRule struct {
	Name    string          `json:"name,omitempty"`
	When    []FlagCondition `json:"when,omitempty"`
	Variant string          `json:"variant,omitempty"`
	Rollout *FlagRollout    `json:"rollout,omitempty"`
}

// FlagCondition tests one context attribute. Value is a string, a float64
// or a bool; for the "in" operator it is a []any of those. A condition on
// an attribute the context lacks, or holds with another type than the
// operator compares, does not hold (it is not an error).
type FlagCondition struct {
	Attribute string `json:"attribute"`
	Op        FlagOp `json:"op"`
	Value     any    `json:"value"`
}

// FlagOp is a condition operator.
type FlagOp string

// The condition operators. equals and in compare strings, numbers and
// booleans exactly; gt…le compare numbers; semver_* compare semantic
// versions (semver 2.0 precedence, an optional leading "v"); regex matches
// a Go RE2 expression anywhere in a string attribute (anchor it with ^…$
// to match the whole value).
const (
	OpEquals   FlagOp = "equals"
	OpIn       FlagOp = "in"
	OpGT       FlagOp = "gt"
	OpGE       FlagOp = "ge"
	OpLT       FlagOp = "lt"
	OpLE       FlagOp = "le"
	OpSemverGT FlagOp = "semver_gt"
	OpSemverGE FlagOp = "semver_ge"
	OpSemverLT FlagOp = "semver_lt"
	OpSemverLE FlagOp = "semver_le"
	OpSemverEQ FlagOp = "semver_eq"
	OpRegex    FlagOp = "regex"
)

// FlagOps lists the operators in the order messages show them.
var FlagOps = []FlagOp{OpEquals, OpIn, OpGT, OpGE, OpLT, OpLE,
	OpSemverGT, OpSemverGE, OpSemverLT, OpSemverLE, OpSemverEQ, OpRegex}

// IsSemver reports whether op compares semantic versions.
func (op FlagOp) IsSemver() bool {
	switch op {
	case OpSemverGT, OpSemverGE, OpSemverLT, OpSemverLE, OpSemverEQ:
		return true
	}
	return false
}

// IsNumeric reports whether op compares numbers.
func (op FlagOp) IsNumeric() bool {
	switch op {
	case OpGT, OpGE, OpLT, OpLE:
		return true
	}
	return false
}

// FlagRollout splits callers between variants by a stable hash of one
// context attribute (By, TargetingKey when empty), so the same value always
// gets the same variant. The split's percentages sum to 100 and have at
// most two decimals (the hash picks one of 10,000 buckets).
type FlagRollout struct {
	By    string      `json:"by,omitempty"`
	Split []FlagSplit `json:"split"`
}

// Attribute is the context attribute the rollout buckets by.
func (r *FlagRollout) Attribute() string {
	if r.By == "" {
		return TargetingKey
	}
	return r.By
}

// FlagSplit is one variant's share of a rollout, in percent.
type FlagSplit struct {
	Variant string  `json:"variant"`
	Percent float64 `json:"percent"`
}

// Evaluation reasons, as OpenFeature and OFREP name them.
const (
	ReasonStatic         = "STATIC"          // the flag has no rules and no rollout
	ReasonTargetingMatch = "TARGETING_MATCH" // a rule with a fixed variant matched
	ReasonSplit          = "SPLIT"           // a percentage rollout chose the variant
	ReasonDefault        = "DEFAULT"         // no rule matched: the default variant
	ReasonDisabled       = "DISABLED"        // the flag is killed: the safe variant
	ReasonError          = "ERROR"           // see the error code
)

// Evaluation error codes, as OFREP names them.
const (
	FlagErrNotFound            = "FLAG_NOT_FOUND"
	FlagErrParse               = "PARSE_ERROR"
	FlagErrTypeMismatch        = "TYPE_MISMATCH"
	FlagErrTargetingKeyMissing = "TARGETING_KEY_MISSING"
	FlagErrInvalidContext      = "INVALID_CONTEXT"
	FlagErrGeneral             = "GENERAL"
)
