package shipgate

import (
	"crypto/rand"
	"encoding/base32"
	"slices"
	"strings"
	"time"
)

// AgentState is how the server sees an agent.
type AgentState string

// Agent states. An agent is online while it keeps in touch, lost when it
// has not for LostAfter, and draining when an operator asked it to take no
// new jobs (it finishes the ones it has).
const (
	AgentOnline   AgentState = "online"
	AgentLost     AgentState = "lost"
	AgentDraining AgentState = "draining"
)

// Audit actions of agents, beside those in audit.go.
const (
	// ActionAgentJoinRefused records a registration a valid join token was
	// refused: labels outside its scope, a reserved label, an expired
	// token, or a name held by another agent. It is written in its own
	// transaction, since the registration's was rolled back.
	ActionAgentJoinRefused = "agent.join_refused"
)

// Agent is a runner on a host, registered with a join token.
type Agent struct {
	ID       int64             `json:"id"`
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels"`
	Version  string            `json:"version"`
	Hostname string            `json:"hostname"`
	Draining bool              `json:"draining"`
	// InstanceID names the agent's work dir. It is not a credential (the
	// agent's secret is); only admins see it.
	InstanceID string `json:"instance_id,omitempty"`
	TokenID    int64  `json:"token_id"`
	// Envs are the environments whose jobs the agent may take, from its
	// join token; empty means all.
	Envs         []string   `json:"envs,omitempty"`
	RegisteredAt time.Time  `json:"registered_at"`
	LastSeen     time.Time  `json:"last_seen"`
	State        AgentState `json:"state"`
}

// StateAt derives the agent's state at now.
func (a *Agent) StateAt(now time.Time, lostAfter time.Duration) AgentState {
	switch {
	case now.Sub(a.LastSeen) > lostAfter:
		return AgentLost
	case a.Draining:
		return AgentDraining
	}
	return AgentOnline
}

// Info is the agent as a runner: its name, labels and environments.
// Reserved labels never count for a remote agent, even one registered
// before they were refused at registration.
func (a *Agent) Info() RunnerInfo {
	labels := a.Labels
	for k := range a.Labels {
		if reservedLabel(k) {
			labels = make(map[string]string, len(a.Labels))
			for k, v := range a.Labels {
				if !reservedLabel(k) {
					labels[k] = v
				}
			}
			break
		}
	}
	return RunnerInfo{Name: a.Name, Labels: labels, Envs: a.Envs}
}

// AgentToken lets agents join. Only its hash is stored; revoking it cuts
// off every agent that registered with it. Its scope bounds what those
// agents may claim to be and which jobs they may take, so a leaked join
// token cannot enrol a host as a production runner.
type AgentToken struct {
	ID     int64  `json:"id"`
	Name   string `json:"name,omitempty"`
	Prefix string `json:"prefix"`
	// Scope lists labels an agent joining with the token must have, with
	// exactly these values; its other labels are free.
	Scope map[string]string `json:"scope"`
	// Envs are the environments whose jobs its agents may take; empty
	// means all.
	Envs []string `json:"envs"`
	// ExpiresAt, if set, is when the token stops registering new agents.
	// Agents that joined before keep working until it is revoked.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// ReservedLabelPrefix starts the labels only the server sets (the built-in
// runner's shipgate.local=true); no remote agent may register with one.
const ReservedLabelPrefix = "shipgate."

// reservedLabel reports whether k starts with the reserved prefix in any
// case, including letters that fold to its own (U+017F LONG S is an s):
// label names are ASCII, but this check stands on its own.
func reservedLabel(k string) bool {
	n := len(ReservedLabelPrefix) // ASCII: as many runes as bytes
	r := []rune(k)
	return len(r) >= n && strings.EqualFold(string(r[:n]), ReservedLabelPrefix)
}

// Validate checks a token about to be created: scope labels as agent
// labels, never reserved ones, and environment names. It sorts Envs and
// drops repeats.
func (t *AgentToken) Validate() error {
	if err := ValidateLabels(t.Scope); err != nil {
		return Errorf(EINVALID, "scope: %s", ErrorMessage(err))
	}
	for k := range t.Scope {
		if reservedLabel(k) {
			return Errorf(EINVALID, "scope: label %s is reserved for the server (labels starting with %q); no agent may register with it", k, ReservedLabelPrefix)
		}
	}
	for _, e := range t.Envs {
		if err := ValidateName("environment", e); err != nil {
			return err
		}
	}
	slices.Sort(t.Envs)
	t.Envs = slices.Compact(t.Envs)
	return nil
}

// Expired reports whether the token no longer registers new agents at now.
func (t *AgentToken) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// AdmitLabels returns an EFORBIDDEN error, saying which label and what the
// scope wants, unless an agent with labels may join with t: no reserved
// label, and every scoped label present with the scoped value.
func (t *AgentToken) AdmitLabels(labels map[string]string) error {
	for _, k := range sortedKeys(labels) {
		if reservedLabel(k) {
			return Errorf(EFORBIDDEN, "label %s is reserved for the server (labels starting with %q belong to its built-in runner); remove it from the agent's labels", k, ReservedLabelPrefix)
		}
	}
	for _, k := range sortedKeys(t.Scope) {
		want := t.Scope[k]
		got, ok := labels[k]
		switch {
		case !ok:
			return Errorf(EFORBIDDEN, "agent token %d is scoped to %s: the agent must have label %s=%s, and it has no label %s", t.ID, FormatLabels(t.Scope), k, want, k)
		case got != want:
			return Errorf(EFORBIDDEN, "agent token %d is scoped to %s: label %s=%s is outside it (the scope wants %s=%s)", t.ID, FormatLabels(t.Scope), k, got, k, want)
		}
	}
	return nil
}

// FormatLabels renders labels as k=v,… in key order ("none" when empty).
func FormatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return "none"
	}
	keys := sortedKeys(labels)
	for i, k := range keys {
		keys[i] = k + "=" + labels[k]
	}
	return strings.Join(keys, ",")
}

// Prefixes of agent join tokens and of the per-agent secrets registration
// hands out.
const (
	AgentTokenPrefix  = "sga_"
	AgentSecretPrefix = "sgs_"
)

// NewSecret returns prefix followed by 160 random bits.
func NewSecret(prefix string) string {
	b := make([]byte, 20)
	rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// MaxLabelName bounds a runner label's name.
const MaxLabelName = 63

// ValidateLabelName checks the name of a runner label: 1–63 ASCII letters,
// digits, '.', '_', '/' and '-', starting with a letter or digit. Plain
// ASCII shows as exactly what it is, so no name looks like another — a
// reserved shipgate. one above all.
func ValidateLabelName(k string) error {
	bad := k == "" || len(k) > MaxLabelName
	for i := 0; i < len(k) && !bad; i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '/' || c == '-'):
		default:
			bad = true
		}
	}
	if bad {
		return Errorf(EINVALID, "label name %s is not valid: use 1-%d ASCII letters, digits, '.', '_', '/' or '-', starting with a letter or digit", QuoteText(k), MaxLabelName)
	}
	return nil
}

// ValidateLabels checks runner labels: names as ValidateLabelName says;
// values of up to 256 bytes without ',' (the separator of k=v,… lists),
// one line of printable text (see ValidateLine).
func ValidateLabels(labels map[string]string) error {
	for _, k := range sortedKeys(labels) {
		if err := ValidateLabelName(k); err != nil {
			return err
		}
		v := labels[k]
		err := ValidateLine("the value", v, 256)
		if err == nil && strings.ContainsRune(v, ',') {
			err = Errorf(EINVALID, "the value contains ','")
		}
		if err != nil {
			return Errorf(EINVALID, "label %s has a value that is not valid: %s", QuoteText(k), ErrorMessage(err))
		}
	}
	return nil
}

// ValidateAgentInfo checks what an agent says about itself when it
// registers — its version, host name and instance id — which viewers see
// in agent lists: each is one line of printable text.
func ValidateAgentInfo(a *Agent) error {
	if err := ValidateLine("agent version", a.Version, 128); err != nil {
		return err
	}
	if err := ValidateLine("agent hostname", a.Hostname, 256); err != nil {
		return err
	}
	return ValidateLine("agent instance id", a.InstanceID, 128)
}
