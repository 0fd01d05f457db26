package shipgate

import (
	"crypto/rand"
	"encoding/base32"
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

// Agent is a runner on a host, registered with a join token.
type Agent struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels"`
	Version      string            `json:"version"`
	Hostname     string            `json:"hostname"`
	Draining     bool              `json:"draining"`
	InstanceID   string            `json:"instance_id,omitempty"`
	TokenID      int64             `json:"token_id"`
	RegisteredAt time.Time         `json:"registered_at"`
	LastSeen     time.Time         `json:"last_seen"`
	State        AgentState        `json:"state"`
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

// Info is the agent as a runner: its name and labels.
func (a *Agent) Info() RunnerInfo { return RunnerInfo{Name: a.Name, Labels: a.Labels} }

// AgentToken lets agents join. Only its hash is stored; revoking it cuts
// off every agent that registered with it.
type AgentToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name,omitempty"`
	Prefix    string     `json:"prefix"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
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

// ValidateLabels checks runner labels: names of 1–63 characters without
// spaces, '=' or ','; values of up to 256 without ','; both one line of
// printable text (see ValidateLine).
func ValidateLabels(labels map[string]string) error {
	for k, v := range labels {
		if len(k) == 0 || len(k) > 63 || strings.ContainsAny(k, " =,") || ValidateLine("label name", k, 63) != nil {
			return Errorf(EINVALID, "label name %s is not valid", QuoteText(k))
		}
		if len(v) > 256 || strings.ContainsRune(v, ',') || ValidateLine("label value", v, 256) != nil {
			return Errorf(EINVALID, "label %s has a value that is not valid: up to 256 printable characters without ','", QuoteText(k))
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
