package runner

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shipgate/shipgate/internal/durable"
)

// secretFile keeps, in an agent's work dir, the secret of its last
// registration: while the server counts the agent as live, re-registering
// its name (a restart) needs that secret, so nobody holding only the join
// token can take the name over.
const secretFile = "agent-secret.json"

type savedSecret struct {
	Server string `json:"server"`
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

func sameServer(a, b string) bool { return strings.TrimRight(a, "/") == strings.TrimRight(b, "/") }

// SavedSecret returns the secret the agent of workDir got when it last
// registered as name with server, or "" when it has none for them. A
// secret is only ever sent back to the server that issued it.
func SavedSecret(workDir, server, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(workDir, secretFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	var s savedSecret
	if err := json.Unmarshal(b, &s); err != nil {
		return "", errors.New(secretFile + " is not valid JSON; delete it to register without it")
	}
	if !sameServer(s.Server, server) || s.Name != name {
		return "", nil
	}
	return s.Secret, nil
}

// SaveSecret keeps the secret of a registration in workDir, readable by
// the agent's user only, written so that a crash leaves the old file or
// the new one.
func SaveSecret(workDir, server, name, secret string) error {
	b, err := json.Marshal(savedSecret{Server: strings.TrimRight(server, "/"), Name: name, Secret: secret})
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(workDir, secretFile), b)
}
