package agentflags

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/flags"
)

// MaxEnvValue bounds the value of one SHIPGATE_FLAG_ variable; a flag
// whose value is longer gets none (its application asks OFREP).
const MaxEnvValue = 4096

// EnvWait bounds how long a service's start waits for the flags of its
// environment when the agent has none yet.
const EnvWait = 5 * time.Second

// ServiceEnv is the environment a supervised process of service in env
// starts with: OFREP_ENDPOINT (the local endpoint of its environment, on
// addr), SHIPGATE_FLAGS_ENVIRONMENT, and SHIPGATE_FLAG_<KEY> for each of
// the service's flags, with the value served to an empty evaluation
// context (the default variant when that context is not enough: a
// percentage rollout needs a targeting key). Those are read once at
// start: a flip reaches them only when the process is started again. It
// starts following env and waits up to EnvWait for its flags.
func (m *Mirror) ServiceEnv(ctx context.Context, addr, service, env string) []string {
	out := []string{"OFREP_ENDPOINT=" + BaseURL(addr, env), "SHIPGATE_FLAGS_ENVIRONMENT=" + env}
	if err := m.Watch(env); err != nil {
		m.Logger.Warn("cannot serve the flags of a service's environment", "service", service, "environment", env, "err", err)
		return out
	}
	wctx, cancel := context.WithTimeout(ctx, EnvWait)
	defer cancel()
	if err := m.WaitKnown(wctx, env); err != nil {
		m.Logger.Warn("no flags of the environment yet; the service starts without SHIPGATE_FLAG_ variables", "service", service, "environment", env)
		return out
	}
	fs := m.current(env)
	var defs []shipgate.Flag
	for _, f := range fs.Flags {
		if f.Service == service {
			defs = append(defs, f.Flag)
		}
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Key < defs[j].Key })
	seen := map[string]string{}
	for _, def := range defs {
		name := EnvName(def.Key)
		if other, dup := seen[name]; dup {
			m.Logger.Warn("two flags map to one variable; only the first is set", "variable", name, "flags", other+", "+def.Key)
			continue
		}
		seen[name] = def.Key
		v, err := staticValue(def)
		if err != nil {
			m.Logger.Warn("no variable for a flag", "service", service, "flag", def.Key, "err", err)
			continue
		}
		out = append(out, name+"="+v)
	}
	return out
}

// EnvName is the variable of a flag key: SHIPGATE_FLAG_ and the key in
// upper case, every character other than a letter or digit made "_"
// (new-checkout → SHIPGATE_FLAG_NEW_CHECKOUT).
func EnvName(key string) string {
	var b strings.Builder
	b.WriteString("SHIPGATE_FLAG_")
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// staticValue is the text of the value def serves an empty context:
// true/false, a string as is, a number or JSON as JSON.
func staticValue(def shipgate.Flag) (string, error) {
	cf, err := flags.Compile(def)
	if err != nil {
		return "", err
	}
	res := flags.Evaluate(cf, nil)
	value := res.Value
	if res.ErrorCode != "" {
		value = def.Variants[def.DefaultVariant]
	}
	var s string
	switch v := value.(type) {
	case string:
		s = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		s = string(b)
	}
	if len(s) > MaxEnvValue || strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("its value is longer than %d bytes or holds a NUL", MaxEnvValue)
	}
	return s, nil
}
